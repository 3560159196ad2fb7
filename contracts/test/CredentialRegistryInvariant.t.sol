// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {TestBase} from "./Vm.sol";
import {CredentialRegistry} from "../CredentialRegistry.sol";
import {ICredentialRegistry} from "../ICredentialRegistry.sol";

/// @dev Drives the registry with random sequences of calls from random actors (admin, issuers,
/// strangers) and keeps a ghost model of what must hold.
contract RegistryHandler is TestBase {
    CredentialRegistry public immutable reg;
    address public immutable admin;
    address[] public actors;
    bytes32[] public roots;

    struct Ghost {
        address issuer;
        uint64 leafCount;
        uint48 anchoredAt;
        uint64 anchoredBlock;
    }

    mapping(bytes32 root => Ghost) public ghost;
    mapping(bytes32 root => mapping(uint256 word => uint256 bits)) public ghostBits;
    mapping(bytes32 root => bool) public ghostBatchRevoked;
    bool public strangerAnchored; // set if a non-issuer ever anchored: must stay false
    bool public bitsCleared; // set if a revocation bit ever went from 1 to 0: must stay false
    uint256 public calls;

    constructor(CredentialRegistry registry, address admin_) {
        reg = registry;
        admin = admin_;
        for (uint160 i = 1; i <= 6; ++i) actors.push(address(0x1000 + i));
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
        // Half the time, try to re-anchor a root that exists (possibly by another issuer).
        bytes32 root = roots.length > 0 && rootSeed % 2 == 0
            ? roots[rootSeed % roots.length]
            : keccak256(abi.encode(rootSeed));
        leafCount = uint64(bound(leafCount, 0, 3000));
        bool wasActive = reg.issuerInfo(who).active;
        bool existed = ghost[root].issuer != address(0);
        vm.prank(who);
        try reg.anchor(root, leafCount) {
            if (!wasActive) strangerAnchored = true;
            if (!existed) {
                ghost[root] = Ghost(who, leafCount, uint48(block.timestamp), uint64(block.number));
                roots.push(root);
            }
        } catch {}
        ++calls;
    }

    function revoke(uint256 seed, uint256 rootSeed, uint256 word, uint256 mask, uint8 reason) external {
        if (roots.length == 0) return;
        bytes32 root = roots[rootSeed % roots.length];
        // Mostly the real issuer, sometimes someone else.
        address who = seed % 4 == 0 ? _actor(seed) : ghost[root].issuer;
        word = bound(word, 0, (uint256(ghost[root].leafCount) + 255) / 256);
        _snapshotCheck(root, word);
        vm.prank(who);
        try reg.revoke(root, _one(word, mask), reason) {
            ghostBits[root][word] |= mask;
        } catch {}
        _snapshotCheck(root, word);
        ++calls;
    }

    function revokeBatch(uint256 seed, uint256 rootSeed, uint8 reason) external {
        if (roots.length == 0) return;
        bytes32 root = roots[rootSeed % roots.length];
        address who = seed % 3 == 0 ? _actor(seed) : ghost[root].issuer;
        vm.prank(who);
        try reg.revokeBatch(root, reason) {
            ghostBatchRevoked[root] = true;
        } catch {}
        ++calls;
    }

    function rootsLength() external view returns (uint256) {
        return roots.length;
    }

    function _one(uint256 word, uint256 mask) internal pure returns (ICredentialRegistry.RevocationWord[] memory w) {
        w = new ICredentialRegistry.RevocationWord[](1);
        w[0] = ICredentialRegistry.RevocationWord(word, mask);
    }

    function _snapshotCheck(bytes32 root, uint256 word) internal {
        uint256 onChain = reg.revocationWord(root, word);
        if (onChain & ghostBits[root][word] != ghostBits[root][word]) bitsCleared = true;
    }
}

/// @dev Invariants: roots are write-once, revocation bits never clear, no address without the
/// issuer role ever anchors, and the contract state equals the ghost model.
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

    function invariant_rootsAreWriteOnce() public view {
        uint256 n = handler.rootsLength();
        for (uint256 i = 0; i < n; ++i) {
            bytes32 root = handler.roots(i);
            (address issuer, uint64 leafCount, uint48 anchoredAt, uint64 anchoredBlock) = handler.ghost(root);
            ICredentialRegistry.BatchInfo memory b = reg.batchInfo(root);
            vm.assertEq(b.issuer, issuer, "issuer of the first anchoring");
            vm.assertEq(b.leafCount, leafCount, "leaf count of the first anchoring");
            vm.assertEq(b.anchoredAt, anchoredAt, "time of the first anchoring");
            vm.assertEq(b.anchoredBlock, anchoredBlock, "block of the first anchoring");
        }
    }

    function invariant_revocationBitsNeverClear() public view {
        vm.assertFalse(handler.bitsCleared(), "a revocation bit was cleared");
        uint256 n = handler.rootsLength();
        for (uint256 i = 0; i < n; ++i) {
            bytes32 root = handler.roots(i);
            (, uint64 leafCount,,) = handler.ghost(root);
            for (uint256 w = 0; w <= (uint256(leafCount) + 255) / 256; ++w) {
                vm.assertEq(reg.revocationWord(root, w), handler.ghostBits(root, w), "bitmap equals model");
            }
            vm.assertEq(reg.isBatchRevoked(root), handler.ghostBatchRevoked(root), "batch revocation equals model");
        }
    }

    function invariant_onlyIssuersAnchor() public view {
        vm.assertFalse(handler.strangerAnchored(), "an address without the issuer role anchored");
        uint256 n = handler.rootsLength();
        for (uint256 i = 0; i < n; ++i) {
            ICredentialRegistry.BatchInfo memory b = reg.batchInfo(handler.roots(i));
            vm.assertTrue(reg.issuerInfo(b.issuer).id != 0, "batch issuer was registered");
        }
    }
}
