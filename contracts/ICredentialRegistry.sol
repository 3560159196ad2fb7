// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title ICredentialRegistry
/// @notice A registry of Merkle roots of micro-credential batches (Open Badges 3.0), anchored by
/// authorized issuers, with per-credential and whole-batch revocation.
///
/// A batch is identified by its Merkle root. Leaves are `sha256(0x00 || canonical credential)`;
/// internal nodes are `sha256(left || right)`; a node without a sibling is promoted unchanged to
/// the next level (the tree shape of `merkletools`). Every state change emits an event, so the
/// registry's whole state can be rebuilt from its logs.
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
        address issuer; // the account that anchored the root (zero address: never anchored)
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

    event AdminTransferStarted(address indexed previousAdmin, address indexed newAdmin);
    event AdminTransferred(address indexed previousAdmin, address indexed newAdmin);
    event IssuerAdded(address indexed issuer, uint32 indexed id, string profileURI);
    event IssuerRemoved(address indexed issuer, uint32 indexed id);
    event BatchAnchored(bytes32 indexed root, address indexed issuer, uint64 leafCount);
    /// @dev An index is revoked by exactly one event: each bit of each mask is newly set.
    event CredentialsRevoked(bytes32 indexed root, address indexed issuer, uint8 reason, RevocationWord[] words);
    event BatchRevoked(bytes32 indexed root, address indexed issuer, uint8 reason);

    error RegistryUnauthorizedAdmin(address account);
    error RegistryZeroAddress();
    error RegistryIssuerAlreadyActive(address issuer);
    error RegistryIssuerNotActive(address issuer);
    error RegistryIssuerProfileMismatch(address issuer, string registeredProfileURI);
    error RegistryEmptyProfileURI();
    error RegistryUnauthorizedIssuer(address account);
    error RegistryZeroRoot();
    error RegistryZeroLeafCount();
    error RegistryRootAlreadyAnchored(bytes32 root, address issuer);
    error RegistryUnknownRoot(bytes32 root);
    error RegistryNotBatchIssuer(bytes32 root, address account);
    error RegistryEmptyRevocation(bytes32 root);
    error RegistryIndexOutOfRange(bytes32 root, uint256 index, uint64 leafCount);
    error RegistryAlreadyRevoked(bytes32 root, uint256 index);
    error RegistryBatchAlreadyRevoked(bytes32 root);

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

    /// @notice Anchors the Merkle `root` of a batch of `leafCount` credentials, once.
    /// Requirements: caller is an active issuer; `root` is not zero and was never anchored;
    /// `leafCount` is not zero.
    function anchor(bytes32 root, uint64 leafCount) external;

    /// @notice Revokes, permanently, the leaf indices set in `words` of batch `root`.
    /// Requirements: caller anchored `root`; every mask is non-zero, every index is below the
    /// batch's leaf count and not revoked yet.
    function revoke(bytes32 root, RevocationWord[] calldata words, uint8 reason) external;

    /// @notice Revokes, permanently, every credential of batch `root` (e.g. key compromise).
    /// Requirements: caller anchored `root`; the batch is not revoked as a whole yet.
    function revokeBatch(bytes32 root, uint8 reason) external;

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

    /// @notice What the registry knows about batch `root` (issuer zero if never anchored).
    function batchInfo(bytes32 root) external view returns (BatchInfo memory);

    /// @notice Whether leaf `index` of batch `root` is revoked, by itself or with its whole batch.
    function isRevoked(bytes32 root, uint256 index) external view returns (bool);

    /// @notice Whether batch `root` is revoked as a whole.
    function isBatchRevoked(bytes32 root) external view returns (bool);

    /// @notice Word `word` of the revocation bitmap of batch `root`.
    function revocationWord(bytes32 root, uint256 word) external view returns (uint256);

    /// @notice Whether `proof` shows that `leaf` is leaf number `index` of anchored batch `root`.
    /// The index is bound: the batch's leaf count fixes which steps exist and on which side each
    /// sibling sits, so a proof for one index never passes for another. Returns false for a root
    /// that was never anchored or an index not below its leaf count.
    function verify(bytes32 root, bytes32 leaf, uint256 index, bytes32[] calldata proof)
        external
        view
        returns (bool);
}
