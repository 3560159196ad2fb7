// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {TestBase} from "./Vm.sol";
import {CredentialRegistry} from "../CredentialRegistry.sol";
import {ICredentialRegistry} from "../ICredentialRegistry.sol";

/// @dev Drives the registry with random sequences of calls from random actors (admin, issuers,
/// strangers) and keeps a ghost model, keyed like the registry by (issuer, root), of what must hold.
contract RegistryHandler is TestBase {
    CredentialRegistry public immutable reg;
    address public immutable admin;
    address[] public actors;

    struct BatchKey {
        address issuer;
        bytes32 root;
    }

    struct Ghost {
        uint64 leafCount;
        uint48 anchoredAt;
        uint64 anchoredBlock;
    }

    struct Binding {
        address issuer;
        bytes32 key;
        uint32 index;
        uint64 boundBlock;
    }

    BatchKey[] public batches;
    Binding[] public bindings; // every successful bindSigningKey, in order
    mapping(address issuer => mapping(bytes32 key => bool)) public ghostKeyBound;
    mapping(address issuer => uint32) public ghostKeyCount;
    bool public strangerBoundKey; // set if a non-issuer ever bound a key: must stay false
    bool public bindMispredicted; // set if a binding succeeded or failed against the model
    mapping(address issuer => mapping(bytes32 root => Ghost)) public ghost;
    mapping(address issuer => mapping(bytes32 root => mapping(uint256 word => uint256 bits))) public ghostBits;
    mapping(address issuer => mapping(bytes32 root => bool)) public ghostBatchRevoked;
    bool public strangerAnchored; // set if a non-issuer ever anchored: must stay false
    bool public bitsCleared; // set if a revocation bit ever went from 1 to 0: must stay false
    bool public anchorMispredicted; // set if an anchor succeeded or failed against the model
    uint256 public calls;

    constructor(CredentialRegistry registry, address admin_) {
        reg = registry;
        admin = admin_;
        for (uint160 i = 1; i <= 6; ++i) {
            actors.push(address(0x1000 + i));
        }
    }

    function _actor(uint256 seed) internal view returns (address) {
        return actors[seed % actors.length];
    }

    function addIssuer(uint256 seed) external {
        address who = _actor(seed);
        vm.prank(admin);
        try reg.addIssuer(who, string.concat("https://issuer.example/", vm.toString(uint160(who)))) {} catch {}
        ++calls;
    }

    function removeIssuer(uint256 seed) external {
        vm.prank(admin);
        try reg.removeIssuer(_actor(seed)) {} catch {}
        ++calls;
    }

    function anchor(uint256 seed, uint256 rootSeed, uint64 leafCount, uint32 dt) external {
        address who = _actor(seed);
        vm.warp(block.timestamp + dt % 1000);
        vm.roll(block.number + 1);
        // Half the time, anchor a root that already exists, by this issuer or by another one.
        bytes32 root = batches.length > 0 && rootSeed % 2 == 0
            ? batches[rootSeed % batches.length].root
            : keccak256(abi.encode(rootSeed));
        leafCount = uint64(bound(leafCount, 0, 3000));
        bool wasActive = reg.issuerInfo(who).active;
        bool fresh = ghost[who][root].leafCount == 0;
        bool expected = wasActive && fresh && leafCount != 0;
        vm.prank(who);
        try reg.anchor(root, leafCount) {
            if (!wasActive) strangerAnchored = true;
            if (!expected) anchorMispredicted = true;
            if (fresh) {
                ghost[who][root] = Ghost(leafCount, uint48(block.timestamp), uint64(block.number));
                batches.push(BatchKey(who, root));
            }
        } catch {
            if (expected) anchorMispredicted = true;
        }
        ++calls;
    }

    function revoke(uint256 seed, uint256 batchSeed, uint256 word, uint256 mask, uint8 reason) external {
        if (batches.length == 0) return;
        BatchKey memory b = batches[batchSeed % batches.length];
        // Mostly the batch's issuer, sometimes someone else (who may hold its own batch `root`).
        address who = seed % 4 == 0 ? _actor(seed) : b.issuer;
        word = bound(word, 0, (uint256(ghost[b.issuer][b.root].leafCount) + 255) / 256);
        _snapshotCheck(who, b.root, word);
        vm.prank(who);
        try reg.revoke(b.root, _one(word, mask), reason) {
            ghostBits[who][b.root][word] |= mask;
        } catch {}
        _snapshotCheck(who, b.root, word);
        ++calls;
    }

    function revokeBatch(uint256 seed, uint256 batchSeed, uint8 reason) external {
        if (batches.length == 0) return;
        BatchKey memory b = batches[batchSeed % batches.length];
        address who = seed % 3 == 0 ? _actor(seed) : b.issuer;
        vm.prank(who);
        try reg.revokeBatch(b.root, reason) {
            ghostBatchRevoked[who][b.root] = true;
        } catch {}
        ++calls;
    }

    function bindSigningKey(uint256 seed, uint256 keySeed) external {
        address who = _actor(seed);
        vm.roll(block.number + 1);
        // Half the time, a key already bound, by this issuer or by another one.
        bytes32 key = bindings.length > 0 && keySeed % 2 == 0
            ? bindings[keySeed % bindings.length].key
            : keccak256(abi.encode("key", keySeed));
        bool wasActive = reg.issuerInfo(who).active;
        bool expected = wasActive && !ghostKeyBound[who][key];
        vm.prank(who);
        try reg.bindSigningKey(key) {
            if (!wasActive) strangerBoundKey = true;
            if (!expected) bindMispredicted = true;
            if (!ghostKeyBound[who][key]) {
                ghostKeyBound[who][key] = true;
                bindings.push(Binding(who, key, ghostKeyCount[who]++, uint64(block.number)));
            }
        } catch {
            if (expected) bindMispredicted = true;
        }
        ++calls;
    }

    function bindingsLength() external view returns (uint256) {
        return bindings.length;
    }

    function batchesLength() external view returns (uint256) {
        return batches.length;
    }

    function _one(uint256 word, uint256 mask) internal pure returns (ICredentialRegistry.RevocationWord[] memory w) {
        w = new ICredentialRegistry.RevocationWord[](1);
        w[0] = ICredentialRegistry.RevocationWord(word, mask);
    }

    function _snapshotCheck(address issuer, bytes32 root, uint256 word) internal {
        uint256 onChain = reg.revocationWord(issuer, root, word);
        uint256 model = ghostBits[issuer][root][word];
        if (onChain & model != model) bitsCleared = true;
    }
}

/// @dev Invariants: each (issuer, root) batch is write-once, revocation bits never clear, no
/// address without the issuer role ever anchors or binds a key, signing keys are append-only per
/// issuer, and the contract state equals the ghost model.
contract CredentialRegistryInvariantTest is TestBase {
    CredentialRegistry internal reg;
    RegistryHandler internal handler;
    address internal constant ADMIN = address(0xA11CE);

    function setUp() public {
        vm.warp(1_700_000_000);
        reg = new CredentialRegistry(ADMIN);
        handler = new RegistryHandler(reg, ADMIN);
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function invariant_batchesAreWriteOncePerIssuerAndRoot() public view {
        vm.assertFalse(handler.anchorMispredicted(), "an anchor succeeded or failed against the model");
        uint256 n = handler.batchesLength();
        for (uint256 i = 0; i < n; ++i) {
            (address issuer, bytes32 root) = handler.batches(i);
            (uint64 leafCount, uint48 anchoredAt, uint64 anchoredBlock) = handler.ghost(issuer, root);
            ICredentialRegistry.BatchInfo memory b = reg.batchInfo(issuer, root);
            vm.assertEq(b.issuer, issuer, "issuer of the batch");
            vm.assertEq(b.leafCount, leafCount, "leaf count of the first anchoring");
            vm.assertEq(b.anchoredAt, anchoredAt, "time of the first anchoring");
            vm.assertEq(b.anchoredBlock, anchoredBlock, "block of the first anchoring");
        }
    }

    function invariant_revocationBitsNeverClear() public view {
        vm.assertFalse(handler.bitsCleared(), "a revocation bit was cleared");
        uint256 n = handler.batchesLength();
        for (uint256 i = 0; i < n; ++i) {
            (address issuer, bytes32 root) = handler.batches(i);
            (uint64 leafCount,,) = handler.ghost(issuer, root);
            for (uint256 w = 0; w <= (uint256(leafCount) + 255) / 256; ++w) {
                vm.assertEq(
                    reg.revocationWord(issuer, root, w), handler.ghostBits(issuer, root, w), "bitmap equals model"
                );
            }
            vm.assertEq(
                reg.isBatchRevoked(issuer, root),
                handler.ghostBatchRevoked(issuer, root),
                "batch revocation equals model"
            );
        }
    }

    function invariant_onlyIssuersAnchor() public view {
        vm.assertFalse(handler.strangerAnchored(), "an address without the issuer role anchored");
        uint256 n = handler.batchesLength();
        for (uint256 i = 0; i < n; ++i) {
            (address issuer,) = handler.batches(i);
            vm.assertTrue(reg.issuerInfo(issuer).id != 0, "batch issuer was registered");
        }
    }

    function invariant_signingKeysAreAppendOnlyPerIssuer() public view {
        vm.assertFalse(handler.strangerBoundKey(), "an address without the issuer role bound a key");
        vm.assertFalse(handler.bindMispredicted(), "a binding succeeded or failed against the model");
        uint256 n = handler.bindingsLength();
        for (uint256 i = 0; i < n; ++i) {
            (address issuer, bytes32 key, uint32 index, uint64 boundBlock) = handler.bindings(i);
            ICredentialRegistry.SigningKey memory k = reg.signingKeyAt(issuer, index);
            vm.assertEq(k.publicKey, key, "key at its index");
            vm.assertEq(k.boundBlock, boundBlock, "block of the binding");
            vm.assertEq(reg.signingKeyBlock(issuer, key), boundBlock, "block by key");
            vm.assertEq(reg.signingKeyCount(issuer), handler.ghostKeyCount(issuer), "count");
        }
    }
}
