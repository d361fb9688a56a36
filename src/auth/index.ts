export { loadOrCreateInstanceKey, instanceKeyPath, type InstanceKey } from './keys.ts';
export { TokenVerifier, AuthError, signInstanceToken, isSafeSpaceName, RESERVED_SPACES, type Principal } from './tokens.ts';
