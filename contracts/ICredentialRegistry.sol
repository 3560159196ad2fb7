// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title ICredentialRegistry
/// @notice A registry of Merkle roots of micro-credential batches (Open Badges 3.0), anchored by
/// authorized issuers, with per-credential and whole-batch revocation.
///
/// A batch is identified by its issuer and its Merkle root: the pair (issuer account, root) keys
/// the batch record and its revocation bitmap. Two issuers anchoring the same root hold two
/// independent batches, so no issuer can claim, block or revoke another issuer's batch (for
/// example by copying a pending `anchor` transaction from the mempool and getting it mined
/// first). Issuers act only on their own batches; readers name the issuer they trust.
///
/// Leaves are `sha256(0x00 || canonical credential)`; internal nodes are `sha256(left || right)`;
/// a node without a sibling is promoted unchanged to the next level (the tree shape of
/// `merkletools`). Every state change emits an event that indexes the issuer (and the root, or the
/// signing key), so the registry's whole state can be rebuilt from its logs, keyed by (issuer,
/// root) and (issuer, key).
///
/// Errors raised by {revoke} and {revokeBatch} on an existing batch name only its root: the batch
/// is the caller's own, so the issuer is the caller.
///
/// Each issuer also binds to its account the Ed25519 keys it signs credentials with (Data
/// Integrity proofs), so a verifier learns an issuer's keys from the chain alone. Keys are never
/// unbound: after a rotation the older keys stay listed, and credentials signed with them keep
/// verifying. A key is bound per issuer, like a batch: another issuer binding the same key binds
/// its own copy and changes nothing for the first.
interface ICredentialRegistry {
    /// @notice What the registry knows about an issuer account.
    struct IssuerInfo {
        uint32 id; // 1-based, assigned when the account is first added; 0 = never added
        bool active; // may anchor new batches
        uint48 addedAt; // block time of the latest (re-)addition
        uint48 removedAt; // block time of the latest removal, 0 if never removed
        string profileURI; // Open Badges issuer Profile id (URL); fixed for the account's lifetime
    }

    /// @notice What the registry knows about an anchored batch.
    struct BatchInfo {
        address issuer; // the issuer asked about if it anchored the root; zero address if it never did
        uint64 leafCount; // number of credentials in the batch
        uint48 anchoredAt; // block time of the anchoring
        uint64 anchoredBlock; // block number of the anchoring
        uint48 revokedAt; // block time of whole-batch revocation, 0 if not revoked
    }

    /// @notice One 256-bit word of a batch's revocation bitmap: bit `b` of `mask` revokes
    /// leaf index `word * 256 + b`. Indices sharing a word cost one storage write.
    struct RevocationWord {
        uint256 word;
        uint256 mask;
    }

    /// @notice One Ed25519 credential-signing key an issuer bound to its account.
    struct SigningKey {
        bytes32 publicKey; // the raw 32-byte Ed25519 public key
        uint64 boundAt; // block time of the binding
        uint64 boundBlock; // block number of the binding (never 0: no transaction runs in block 0)
    }

    /// @notice The admin started handing the admin role to `newAdmin`, who must accept it.
    event AdminTransferStarted(address indexed previousAdmin, address indexed newAdmin);

    /// @notice The admin role moved from `previousAdmin` to `newAdmin` (from the zero address
    /// at deployment).
    event AdminTransferred(address indexed previousAdmin, address indexed newAdmin);

    /// @notice `issuer` was authorized to anchor batches, under issuer id `id` and the Open
    /// Badges issuer Profile `profileURI` (also emitted when a removed issuer is re-added).
    event IssuerAdded(address indexed issuer, uint32 indexed id, string profileURI);

    /// @notice `issuer` (issuer id `id`) may no longer anchor new batches.
    event IssuerRemoved(address indexed issuer, uint32 indexed id);

    /// @notice `issuer` anchored its batch `root` of `leafCount` credentials.
    /// @param root Merkle root of the batch; with `issuer`, the batch's key.
    /// @param issuer The issuer account that anchored (and alone can revoke) the batch.
    /// @param leafCount Number of credentials (leaves) in the batch.
    event BatchAnchored(bytes32 indexed root, address indexed issuer, uint64 leafCount);

    /// @notice `issuer` revoked, for `reason`, the leaf indices set in `words` of its batch
    /// `root`.
    /// @param root Merkle root of the batch; with `issuer`, the batch's key.
    /// @param issuer The issuer account whose batch this is.
    /// @param reason Revocation reason code, defined off-chain; opaque to the registry.
    /// @param words The newly revoked indices, as bitmap words and masks.
    /// @dev An index is revoked by exactly one event: each bit of each mask is newly set.
    event CredentialsRevoked(bytes32 indexed root, address indexed issuer, uint8 reason, RevocationWord[] words);

    /// @notice `issuer` revoked, for `reason`, every credential of its batch `root`.
    /// @param root Merkle root of the batch; with `issuer`, the batch's key.
    /// @param issuer The issuer account whose batch this is.
    /// @param reason Revocation reason code, defined off-chain; opaque to the registry.
    event BatchRevoked(bytes32 indexed root, address indexed issuer, uint8 reason);

    /// @notice `issuer` bound the Ed25519 credential-signing key `publicKey`, as its key number
    /// `index` (0-based, in binding order; see {signingKeyAt}).
    /// @param issuer The issuer account the key now belongs to (always the caller).
    /// @param publicKey The raw 32-byte Ed25519 public key.
    /// @param index The key's position in the issuer's key history.
    event SigningKeyBound(address indexed issuer, bytes32 indexed publicKey, uint32 index);

    /// @notice `account` is not the admin (or, for {acceptAdmin}, not the pending admin).
    error RegistryUnauthorizedAdmin(address account);

    /// @notice The zero address was given as an admin or an issuer.
    error RegistryZeroAddress();

    /// @notice `issuer` is already active.
    error RegistryIssuerAlreadyActive(address issuer);

    /// @notice `issuer` is not active.
    error RegistryIssuerNotActive(address issuer);

    /// @notice `issuer` is being re-added with a profile URI other than `registeredProfileURI`,
    /// the one it was first added with.
    error RegistryIssuerProfileMismatch(address issuer, string registeredProfileURI);

    /// @notice An issuer was given an empty profile URI.
    error RegistryEmptyProfileURI();

    /// @notice `account` is not an active issuer, so it cannot anchor.
    error RegistryUnauthorizedIssuer(address account);

    /// @notice The zero root cannot be anchored.
    error RegistryZeroRoot();

    /// @notice A batch must hold at least one credential.
    error RegistryZeroLeafCount();

    /// @notice `issuer` (always the caller) already anchored `root`. Other issuers' batches with
    /// the same root never cause this.
    error RegistryRootAlreadyAnchored(bytes32 root, address issuer);

    /// @notice `issuer` (the caller) never anchored `root`, so it has no such batch to revoke.
    error RegistryUnknownBatch(address issuer, bytes32 root);

    /// @notice A revocation of the caller's batch `root` named no index: no words, or a zero mask.
    error RegistryEmptyRevocation(bytes32 root);

    /// @notice A leaf index named is not below the `leafCount` of the caller's batch `root`.
    /// @param index The lowest offending index of the offending word (`type(uint256).max` if that
    /// word is too large for its indices to fit in 256 bits).
    error RegistryIndexOutOfRange(bytes32 root, uint256 index, uint64 leafCount);

    /// @notice Leaf `index` of the caller's batch `root` is already revoked (by an earlier call,
    /// or twice in this one).
    /// @param index The lowest such index in the offending word.
    error RegistryAlreadyRevoked(bytes32 root, uint256 index);

    /// @notice The caller's batch `root` is already revoked as a whole.
    error RegistryBatchAlreadyRevoked(bytes32 root);

    /// @notice `issuer` (always the caller) already bound the signing key `publicKey`. Other
    /// issuers binding the same key never cause this.
    error RegistrySigningKeyAlreadyBound(address issuer, bytes32 publicKey);

    /// @notice The zero key cannot be bound as a signing key.
    error RegistryZeroSigningKey();

    /// @notice `issuer` has no signing key number `index`: it bound `count` keys (numbered from 0).
    error RegistrySigningKeyIndexOutOfRange(address issuer, uint32 index, uint32 count);

    /// @notice Starts moving the admin role to `newAdmin`; it takes effect when they accept.
    /// Requirements: caller is the admin; `newAdmin` is not the zero address.
    function transferAdmin(address newAdmin) external;

    /// @notice Completes an admin transfer. Requirements: caller is the pending admin.
    function acceptAdmin() external;

    /// @notice Authorizes `issuer` to anchor batches, or re-authorizes a removed issuer.
    /// Requirements: caller is the admin; `issuer` is not zero and not active; `profileURI` is
    /// not empty and, for a re-added issuer, equals the one it was first added with.
    function addIssuer(address issuer, string calldata profileURI) external;

    /// @notice Stops `issuer` from anchoring new batches. Its batches stay valid and it can still
    /// revoke them (revocation only ever takes trust away). Requirements: caller is the admin;
    /// `issuer` is active.
    function removeIssuer(address issuer) external;

    /// @notice Anchors the caller's batch `root` of `leafCount` credentials, once. Whether other
    /// issuers anchored the same root does not matter.
    /// Requirements: caller is an active issuer; `root` is not zero and the caller never anchored
    /// it; `leafCount` is not zero.
    function anchor(bytes32 root, uint64 leafCount) external;

    /// @notice Revokes, permanently, the leaf indices set in `words` of the caller's batch `root`.
    /// Requirements: caller anchored `root`; every mask is non-zero, every index is below the
    /// batch's leaf count and not revoked yet.
    function revoke(bytes32 root, RevocationWord[] calldata words, uint8 reason) external;

    /// @notice Revokes, permanently, every credential of the caller's batch `root` (e.g. key
    /// compromise). Requirements: caller anchored `root`; the batch is not revoked as a whole yet.
    function revokeBatch(bytes32 root, uint8 reason) external;

    /// @notice Binds the Ed25519 key `publicKey` to the caller as a credential-signing key, for
    /// good: keys are never unbound, so credentials signed with an older key keep verifying after
    /// a rotation (a compromised key's credentials are revoked through their batches instead).
    /// Requirements: caller is an active issuer; `publicKey` is not zero and the caller never
    /// bound it.
    function bindSigningKey(bytes32 publicKey) external;

    /// @notice The current admin.
    function admin() external view returns (address);

    /// @notice The account an admin transfer is waiting for (zero if none).
    function pendingAdmin() external view returns (address);

    /// @notice Number of distinct issuer accounts ever added (ids run from 1 to this).
    function issuerCount() external view returns (uint32);

    /// @notice What the registry knows about `issuer` (id 0 if it was never added).
    function issuerInfo(address issuer) external view returns (IssuerInfo memory);

    /// @notice The account with issuer id `id` (zero address if none).
    function issuerAccount(uint32 id) external view returns (address);

    /// @notice What the registry knows about `issuer`'s batch `root` (all zero, issuer included,
    /// if `issuer` never anchored `root`).
    function batchInfo(address issuer, bytes32 root) external view returns (BatchInfo memory);

    /// @notice Whether leaf `index` of `issuer`'s batch `root` is revoked, by itself or with its
    /// whole batch.
    function isRevoked(address issuer, bytes32 root, uint256 index) external view returns (bool);

    /// @notice Whether `issuer`'s batch `root` is revoked as a whole.
    function isBatchRevoked(address issuer, bytes32 root) external view returns (bool);

    /// @notice Word `word` of the revocation bitmap of `issuer`'s batch `root`.
    function revocationWord(address issuer, bytes32 root, uint256 word) external view returns (uint256);

    /// @notice Number of signing keys `issuer` ever bound (its keys are numbered from 0 to this,
    /// exclusive).
    function signingKeyCount(address issuer) external view returns (uint32);

    /// @notice `issuer`'s signing key number `index`, in binding order, with when it was bound.
    /// Reverts with {RegistrySigningKeyIndexOutOfRange} unless `index` is below
    /// {signingKeyCount}.
    function signingKeyAt(address issuer, uint32 index) external view returns (SigningKey memory);

    /// @notice The block in which `issuer` bound the signing key `publicKey`, 0 if it never did.
    function signingKeyBlock(address issuer, bytes32 publicKey) external view returns (uint64);

    /// @notice Whether `proof` shows that `leaf` is leaf number `index` of `issuer`'s anchored
    /// batch `root`. The index is bound: the batch's leaf count fixes which steps exist and on
    /// which side each sibling sits, so a proof for one index never passes for another. Returns
    /// false if `issuer` never anchored `root`, or for an index not below its leaf count.
    function verify(address issuer, bytes32 root, bytes32 leaf, uint256 index, bytes32[] calldata proof)
        external
        view
        returns (bool);
}
