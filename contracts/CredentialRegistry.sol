// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ICredentialRegistry} from "./ICredentialRegistry.sol";

/// @title CredentialRegistry
/// @notice Write-once Merkle roots of credential batches, anchored by issuers an admin authorizes,
/// with permanent per-credential (bitmap) and whole-batch revocation, and each issuer's history of
/// credential-signing keys. Every batch is keyed by (issuer account, root) and every key by (issuer
/// account, key), so issuers cannot touch each other's batches or keys. See {ICredentialRegistry}.
contract CredentialRegistry is ICredentialRegistry {
    /// @dev One storage slot per issuer account.
    struct IssuerRecord {
        uint32 id;
        bool active;
        uint48 addedAt;
        uint48 removedAt;
    }

    /// @dev One storage slot per batch (64 + 48 + 64 + 48 = 224 bits), so anchoring writes exactly
    /// one fresh slot. The issuer is the outer mapping key, not a field. `leafCount` is never zero
    /// for an anchored batch ({anchor} rejects zero), so `leafCount == 0` means "never anchored".
    struct BatchRecord {
        uint64 leafCount;
        uint48 anchoredAt;
        uint64 anchoredBlock;
        uint48 revokedAt;
    }

    /// @dev One storage slot per bound key (48 + 64 = 112 bits); the key itself is the mapping key,
    /// its position in the history is in `_signingKeys`. `boundBlock` is never zero for a bound key
    /// (no transaction runs in block 0), so `boundBlock == 0` means "never bound".
    struct KeyRecord {
        uint48 boundAt;
        uint64 boundBlock;
    }

    address private _admin;
    address private _pendingAdmin;
    uint32 private _issuerCount;
    mapping(address account => IssuerRecord) private _issuers;
    mapping(uint32 id => address account) private _issuerAccounts;
    mapping(address account => string) private _profileURIs;
    mapping(address issuer => mapping(bytes32 root => BatchRecord)) private _batches;
    mapping(address issuer => mapping(bytes32 root => mapping(uint256 word => uint256 bits))) private _revoked;
    // Appended after the batch state so the slots above keep their numbers.
    mapping(address issuer => bytes32[] publicKeys) private _signingKeys; // in binding order
    mapping(address issuer => mapping(bytes32 publicKey => KeyRecord)) private _keyRecords;

    constructor(address initialAdmin) {
        if (initialAdmin == address(0)) revert RegistryZeroAddress();
        _admin = initialAdmin;
        emit AdminTransferred(address(0), initialAdmin);
    }

    modifier onlyAdmin() {
        if (msg.sender != _admin) revert RegistryUnauthorizedAdmin(msg.sender);
        _;
    }

    // ----------------------------------------------------------------------------- admin

    /// @inheritdoc ICredentialRegistry
    function transferAdmin(address newAdmin) external onlyAdmin {
        if (newAdmin == address(0)) revert RegistryZeroAddress();
        _pendingAdmin = newAdmin;
        emit AdminTransferStarted(_admin, newAdmin);
    }

    /// @inheritdoc ICredentialRegistry
    function acceptAdmin() external {
        if (msg.sender != _pendingAdmin) revert RegistryUnauthorizedAdmin(msg.sender);
        address previous = _admin;
        _admin = msg.sender;
        delete _pendingAdmin;
        emit AdminTransferred(previous, msg.sender);
    }

    /// @inheritdoc ICredentialRegistry
    function addIssuer(address issuer, string calldata profileURI) external onlyAdmin {
        if (issuer == address(0)) revert RegistryZeroAddress();
        if (bytes(profileURI).length == 0) revert RegistryEmptyProfileURI();
        IssuerRecord memory record = _issuers[issuer];
        if (record.active) revert RegistryIssuerAlreadyActive(issuer);
        if (record.id == 0) {
            record.id = ++_issuerCount;
            _issuerAccounts[record.id] = issuer;
            _profileURIs[issuer] = profileURI;
        } else if (keccak256(bytes(_profileURIs[issuer])) != keccak256(bytes(profileURI))) {
            // Credentials name their issuer by profile URI: changing it under an account would
            // orphan every credential the account already anchored.
            revert RegistryIssuerProfileMismatch(issuer, _profileURIs[issuer]);
        }
        record.active = true;
        record.addedAt = _time();
        _issuers[issuer] = record;
        emit IssuerAdded(issuer, record.id, profileURI);
    }

    /// @inheritdoc ICredentialRegistry
    function removeIssuer(address issuer) external onlyAdmin {
        IssuerRecord storage record = _issuers[issuer];
        if (!record.active) revert RegistryIssuerNotActive(issuer);
        record.active = false;
        record.removedAt = _time();
        emit IssuerRemoved(issuer, record.id);
    }

    // ----------------------------------------------------------------------------- issuers

    /// @inheritdoc ICredentialRegistry
    function anchor(bytes32 root, uint64 leafCount) external {
        if (!_issuers[msg.sender].active) revert RegistryUnauthorizedIssuer(msg.sender);
        if (root == bytes32(0)) revert RegistryZeroRoot();
        if (leafCount == 0) revert RegistryZeroLeafCount();
        if (_batches[msg.sender][root].leafCount != 0) revert RegistryRootAlreadyAnchored(root, msg.sender);
        _batches[msg.sender][root] =
            BatchRecord({leafCount: leafCount, anchoredAt: _time(), anchoredBlock: uint64(block.number), revokedAt: 0});
        emit BatchAnchored(root, msg.sender, leafCount);
    }

    /// @inheritdoc ICredentialRegistry
    function revoke(bytes32 root, RevocationWord[] calldata words, uint8 reason) external {
        uint64 leafCount = _batchOfCaller(root).leafCount;
        if (words.length == 0) revert RegistryEmptyRevocation(root);
        mapping(uint256 word => uint256 bits) storage bitmap = _revoked[msg.sender][root];
        for (uint256 i = 0; i < words.length; ++i) {
            uint256 word = words[i].word;
            uint256 mask = words[i].mask;
            if (mask == 0) revert RegistryEmptyRevocation(root);
            _checkInRange(root, word, mask, leafCount);
            uint256 bits = bitmap[word];
            uint256 overlap = bits & mask;
            if (overlap != 0) revert RegistryAlreadyRevoked(root, word * 256 + _lowestBit(overlap));
            bitmap[word] = bits | mask;
        }
        emit CredentialsRevoked(root, msg.sender, reason, words);
    }

    /// @inheritdoc ICredentialRegistry
    function revokeBatch(bytes32 root, uint8 reason) external {
        BatchRecord storage batch = _batchOfCaller(root);
        if (batch.revokedAt != 0) revert RegistryBatchAlreadyRevoked(root);
        batch.revokedAt = _time();
        emit BatchRevoked(root, msg.sender, reason);
    }

    /// @inheritdoc ICredentialRegistry
    function bindSigningKey(bytes32 publicKey) external {
        if (!_issuers[msg.sender].active) revert RegistryUnauthorizedIssuer(msg.sender);
        if (publicKey == bytes32(0)) revert RegistryZeroSigningKey();
        mapping(bytes32 publicKey => KeyRecord) storage records = _keyRecords[msg.sender];
        if (records[publicKey].boundBlock != 0) revert RegistrySigningKeyAlreadyBound(msg.sender, publicKey);
        bytes32[] storage keys = _signingKeys[msg.sender];
        // No issuer can pay for 2**32 bindings (over 2**47 gas), so the index always fits.
        uint32 index = uint32(keys.length);
        keys.push(publicKey);
        records[publicKey] = KeyRecord({boundAt: _time(), boundBlock: uint64(block.number)});
        emit SigningKeyBound(msg.sender, publicKey, index);
    }

    // ----------------------------------------------------------------------------- views

    /// @inheritdoc ICredentialRegistry
    function admin() external view returns (address) {
        return _admin;
    }

    /// @inheritdoc ICredentialRegistry
    function pendingAdmin() external view returns (address) {
        return _pendingAdmin;
    }

    /// @inheritdoc ICredentialRegistry
    function issuerCount() external view returns (uint32) {
        return _issuerCount;
    }

    /// @inheritdoc ICredentialRegistry
    function issuerInfo(address issuer) external view returns (IssuerInfo memory) {
        IssuerRecord memory record = _issuers[issuer];
        return IssuerInfo({
            id: record.id,
            active: record.active,
            addedAt: record.addedAt,
            removedAt: record.removedAt,
            profileURI: _profileURIs[issuer]
        });
    }

    /// @inheritdoc ICredentialRegistry
    function issuerAccount(uint32 id) external view returns (address) {
        return _issuerAccounts[id];
    }

    /// @inheritdoc ICredentialRegistry
    function batchInfo(address issuer, bytes32 root) external view returns (BatchInfo memory) {
        BatchRecord memory batch = _batches[issuer][root];
        return BatchInfo({
            issuer: batch.leafCount != 0 ? issuer : address(0),
            leafCount: batch.leafCount,
            anchoredAt: batch.anchoredAt,
            anchoredBlock: batch.anchoredBlock,
            revokedAt: batch.revokedAt
        });
    }

    /// @inheritdoc ICredentialRegistry
    function isRevoked(address issuer, bytes32 root, uint256 index) external view returns (bool) {
        if (_batches[issuer][root].revokedAt != 0) return true;
        return (_revoked[issuer][root][index >> 8] >> (index & 0xff)) & 1 == 1;
    }

    /// @inheritdoc ICredentialRegistry
    function isBatchRevoked(address issuer, bytes32 root) external view returns (bool) {
        return _batches[issuer][root].revokedAt != 0;
    }

    /// @inheritdoc ICredentialRegistry
    function revocationWord(address issuer, bytes32 root, uint256 word) external view returns (uint256) {
        return _revoked[issuer][root][word];
    }

    /// @inheritdoc ICredentialRegistry
    function signingKeyCount(address issuer) external view returns (uint32) {
        return uint32(_signingKeys[issuer].length); // fits: see bindSigningKey
    }

    /// @inheritdoc ICredentialRegistry
    function signingKeyAt(address issuer, uint32 index) external view returns (SigningKey memory) {
        bytes32[] storage keys = _signingKeys[issuer];
        if (index >= keys.length) revert RegistrySigningKeyIndexOutOfRange(issuer, index, uint32(keys.length));
        bytes32 publicKey = keys[index];
        KeyRecord memory record = _keyRecords[issuer][publicKey];
        return SigningKey({publicKey: publicKey, boundAt: record.boundAt, boundBlock: record.boundBlock});
    }

    /// @inheritdoc ICredentialRegistry
    function signingKeyBlock(address issuer, bytes32 publicKey) external view returns (uint64) {
        return _keyRecords[issuer][publicKey].boundBlock;
    }

    /// @inheritdoc ICredentialRegistry
    function verify(address issuer, bytes32 root, bytes32 leaf, uint256 index, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        uint256 count = _batches[issuer][root].leafCount;
        if (index >= count) return false;
        bytes32 node = leaf;
        uint256 used = 0;
        while (count > 1) {
            // A node has a sibling unless it is the last node of a level with an odd count;
            // then merkletools promotes it unchanged and the proof has no step for this level.
            if ((index ^ 1) < count) {
                if (used == proof.length) return false;
                bytes32 sibling = proof[used++];
                node =
                    index & 1 == 0 ? sha256(abi.encodePacked(node, sibling)) : sha256(abi.encodePacked(sibling, node));
            }
            index >>= 1;
            count = (count + 1) >> 1;
        }
        return used == proof.length && node == root;
    }

    // ----------------------------------------------------------------------------- internals

    /// @dev Block time; virtual so tests can control it.
    function _time() internal view virtual returns (uint48) {
        return uint48(block.timestamp);
    }

    /// @dev The caller's own batch `root`; reverts if the caller never anchored it.
    function _batchOfCaller(bytes32 root) private view returns (BatchRecord storage batch) {
        batch = _batches[msg.sender][root];
        if (batch.leafCount == 0) revert RegistryUnknownBatch(msg.sender, root);
    }

    /// @dev Reverts unless every index set in `mask` of bitmap word `word` is below `leafCount`.
    function _checkInRange(bytes32 root, uint256 word, uint256 mask, uint64 leafCount) private pure {
        uint256 words = (uint256(leafCount) + 255) >> 8;
        if (word >= words) {
            // Report the first index the mask names; a word this far out cannot overflow below.
            uint256 first = word <= type(uint256).max >> 8 ? (word << 8) | _lowestBit(mask) : type(uint256).max;
            revert RegistryIndexOutOfRange(root, first, leafCount);
        }
        uint256 usedBits = uint256(leafCount) - word * 256; // > 0 because word < words
        if (usedBits < 256) {
            uint256 outside = mask >> usedBits;
            if (outside != 0) {
                revert RegistryIndexOutOfRange(root, word * 256 + usedBits + _lowestBit(outside), leafCount);
            }
        }
    }

    /// @dev Position of the lowest set bit of `x` (x != 0). Only used on revert paths.
    function _lowestBit(uint256 x) private pure returns (uint256 n) {
        while (x & 1 == 0) {
            x >>= 1;
            ++n;
        }
    }
}
