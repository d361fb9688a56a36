import { DEFAULT_SIP_CONFIG, type SipConfig } from './config.ts';
import { DEFAULT_STANDARDS_DIR } from './schema.ts';

export interface ReadPackageOptions {
  /** Validate SEDA manifests against the XSD of their version (default true). */
  validateSchema?: boolean;
  /**
   * Check declared digests against the bytes (default true). Digests computed during the unpack
   * are reused; others cost one more read of the file.
   */
  checkDigests?: boolean;
  standardsDir?: string;
  maxManifestSize?: number;
  maxXmlDepth?: number;
  maxXmlText?: number;
  maxUnitDepth?: number;
  maxTagFileSize?: number;
}

export function resolveOptions(options: ReadPackageOptions = {}, config: SipConfig = DEFAULT_SIP_CONFIG): Required<ReadPackageOptions> {
  return {
    validateSchema: options.validateSchema ?? true,
    checkDigests: options.checkDigests ?? true,
    standardsDir: options.standardsDir ?? config.standardsDir ?? DEFAULT_STANDARDS_DIR,
    maxManifestSize: options.maxManifestSize ?? config.maxManifestSize,
    maxXmlDepth: options.maxXmlDepth ?? config.maxXmlDepth,
    maxXmlText: options.maxXmlText ?? config.maxXmlText,
    maxUnitDepth: options.maxUnitDepth ?? config.maxUnitDepth,
    maxTagFileSize: options.maxTagFileSize ?? config.maxTagFileSize,
  };
}
