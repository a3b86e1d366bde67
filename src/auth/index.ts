/**
 * Tokens, grants and credentials: who may serve which names and ports through a relay.
 * See `docs/auth.md`.
 */
export { AuthError, type AuthErrorCode } from './errors.js';
export {
  issueToken,
  verifyToken,
  parseDuration,
  TOKEN_ALGORITHM,
  MAX_TOKEN_LENGTH,
  type Grant,
  type TokenClaims,
  type TokenSecret,
  type IssueOptions,
  type VerifyOptions,
} from './token.js';
export { normalizeName, isValidName, isWildcard, matchesName, wildcardSpecificity, wildcardCandidates, type NameOptions } from './names.js';
export { tokenFromRequest, type CredentialRequest } from './credentials.js';
export { PortPolicy, parsePortRanges, grantedPorts, type PortRange, type PortKind, type PortPolicyOptions, type GrantedPorts } from './policy.js';
export {
  GrantRegistry,
  type GrantRegistryOptions,
  type NamesAndPorts,
  type Released,
  type ExpiredGrant,
} from './registry.js';
