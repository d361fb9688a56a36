export { gatewayComponent } from './component.ts';
export { UploadService, type DepositCompleted, type UploadRow } from './uploads.ts';
export { gatewayConfigSchema, type GatewayConfig } from './config.ts';
export { uploadFiles, type UploadFilesOptions, type UploadFileResult } from './client/upload.ts';
