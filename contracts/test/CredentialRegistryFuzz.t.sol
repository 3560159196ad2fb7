// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {TestBase} from "./Vm.sol";
import {CredentialRegistry} from "../CredentialRegistry.sol";
import {ICredentialRegistry} from "../ICredentialRegistry.sol";
import {MerkleTestTree} from "./MerkleTestTree.sol";

/// @dev Fuzz tests: the on-chain proof check against an independent tree, revocation of random
/// index sets, and signing-key histories.
contract CredentialRegistryFuzzTest is TestBase {
    CredentialRegistry internal reg;
    address internal constant ADMIN = address(0xA11CE);
    address internal constant ISSUER = address(0x1551);

    function setUp() public {
        reg = new CredentialRegistry(ADMIN);
        vm.prank(ADMIN);
        reg.addIssuer(ISSUER, "https://university.example/issuer");
    }

    function _tree(uint256 seed, uint256 n) internal pure returns (bytes32[] memory leaves) {
        leaves = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            leaves[i] = sha256(abi.encodePacked(bytes1(0x00), seed, i));
        }
    }

    /// Every valid proof passes for its own index, and for no other index.
    function testFuzz_verify_validProofBindsIndex(uint256 seed, uint256 n, uint256 index, uint256 other) public {
        n = bound(n, 1, 70);
        index = bound(index, 0, n - 1);
        other = bound(other, 0, n + 3);
        bytes32[] memory leaves = _tree(seed, n);
        bytes32 root = MerkleTestTree.root(leaves);
        vm.prank(ISSUER);
        reg.anchor(root, uint64(n));
        bytes32[] memory proof = MerkleTestTree.proof(leaves, index);
        vm.assertTrue(reg.verify(ISSUER, root, leaves[index], index, proof), "valid proof");
        if (other != index) vm.assertFalse(reg.verify(ISSUER, root, leaves[index], other, proof), "other index");
    }

    /// Flipping any bit of any proof step, or of the leaf, breaks the proof.
    function testFuzz_verify_rejectsTampering(uint256 seed, uint256 n, uint256 index, uint256 step, uint8 bit) public {
        n = bound(n, 2, 70);
        index = bound(index, 0, n - 1);
        bytes32[] memory leaves = _tree(seed, n);
        bytes32 root = MerkleTestTree.root(leaves);
        vm.prank(ISSUER);
        reg.anchor(root, uint64(n));
        bytes32[] memory proof = MerkleTestTree.proof(leaves, index);
        bytes32 flip = bytes32(uint256(1) << bit);
        vm.assertFalse(reg.verify(ISSUER, root, leaves[index] ^ flip, index, proof), "tampered leaf");
        if (proof.length > 0) {
            step = bound(step, 0, proof.length - 1);
            proof[step] ^= flip;
            vm.assertFalse(reg.verify(ISSUER, root, leaves[index], index, proof), "tampered step");
        }
    }

    /// A proof one step too short or too long never passes.
    function testFuzz_verify_rejectsWrongLength(uint256 seed, uint256 n, uint256 index, bytes32 extra) public {
        n = bound(n, 2, 70);
        index = bound(index, 0, n - 1);
        bytes32[] memory leaves = _tree(seed, n);
        bytes32 root = MerkleTestTree.root(leaves);
        vm.prank(ISSUER);
        reg.anchor(root, uint64(n));
        bytes32[] memory proof = MerkleTestTree.proof(leaves, index);
        bytes32[] memory longer = new bytes32[](proof.length + 1);
        bytes32[] memory shorter = new bytes32[](proof.length - 1);
        for (uint256 i = 0; i < proof.length; ++i) {
            longer[i] = proof[i];
            if (i + 1 < proof.length) shorter[i] = proof[i];
        }
        longer[proof.length] = extra;
        vm.assertFalse(reg.verify(ISSUER, root, leaves[index], index, longer), "extra step");
        vm.assertFalse(reg.verify(ISSUER, root, leaves[index], index, shorter), "missing step");
    }

    /// Revoking a random set of indices (grouped into words) revokes exactly that set.
    function testFuzz_revoke_randomIndexSets(uint256 seed, uint64 leafCount, uint8 picks) public {
        leafCount = uint64(bound(leafCount, 1, 5000));
        uint256 k = bound(picks, 1, 40);
        bytes32 root = keccak256(abi.encode(seed));
        vm.assume(root != bytes32(0));
        vm.prank(ISSUER);
        reg.anchor(root, leafCount);

        uint256 nWords = (uint256(leafCount) + 255) / 256;
        uint256[] memory masks = new uint256[](nWords);
        for (uint256 i = 0; i < k; ++i) {
            uint256 index = uint256(keccak256(abi.encode(seed, i))) % leafCount;
            masks[index / 256] |= 1 << (index % 256);
        }
        uint256 used = 0;
        for (uint256 w = 0; w < nWords; ++w) {
            if (masks[w] != 0) ++used;
        }
        ICredentialRegistry.RevocationWord[] memory words = new ICredentialRegistry.RevocationWord[](used);
        used = 0;
        for (uint256 w = 0; w < nWords; ++w) {
            if (masks[w] != 0) words[used++] = ICredentialRegistry.RevocationWord(w, masks[w]);
        }
        vm.prank(ISSUER);
        reg.revoke(root, words, 3);

        for (uint256 w = 0; w < nWords; ++w) {
            vm.assertEq(reg.revocationWord(ISSUER, root, w), masks[w], "bitmap word");
        }
        for (uint256 i = 0; i < k; ++i) {
            uint256 index = uint256(keccak256(abi.encode(seed, i))) % leafCount;
            vm.assertTrue(reg.isRevoked(ISSUER, root, index), "picked index revoked");
        }
        uint256 probe = uint256(keccak256(abi.encode(seed, "probe"))) % leafCount;
        vm.assertEq(reg.isRevoked(ISSUER, root, probe), (masks[probe / 256] >> (probe % 256)) & 1 == 1, "probe");
    }

    /// Binding a random sequence of keys drawn from a small pool (so some repeat) keeps exactly the
    /// distinct keys, in order of first binding, each with the block of its first binding; every
    /// repeat reverts and changes nothing.
    function testFuzz_bindSigningKey_historyIsAppendOnly(uint256 seed, uint8 n) public {
        uint256 count = bound(n, 1, 24);
        bytes32[] memory order = new bytes32[](count);
        uint64[] memory blocks = new uint64[](count);
        uint256 distinct = 0;
        for (uint256 i = 0; i < count; ++i) {
            bytes32 key = keccak256(abi.encode(seed, uint256(keccak256(abi.encode(seed, i))) % 8));
            vm.roll(block.number + 1 + (uint256(key) % 5));
            bool fresh = true;
            for (uint256 j = 0; j < distinct; ++j) {
                if (order[j] == key) fresh = false;
            }
            if (!fresh) {
                vm.expectRevert(
                    abi.encodeWithSelector(ICredentialRegistry.RegistrySigningKeyAlreadyBound.selector, ISSUER, key)
                );
            }
            vm.prank(ISSUER);
            reg.bindSigningKey(key);
            if (fresh) {
                order[distinct] = key;
                blocks[distinct] = uint64(block.number);
                ++distinct;
            }
        }
        vm.assertEq(reg.signingKeyCount(ISSUER), distinct, "count of distinct keys");
        for (uint256 j = 0; j < distinct; ++j) {
            ICredentialRegistry.SigningKey memory k = reg.signingKeyAt(ISSUER, uint32(j));
            vm.assertEq(k.publicKey, order[j], "order of first binding");
            vm.assertEq(k.boundBlock, blocks[j], "block of first binding");
            vm.assertEq(reg.signingKeyBlock(ISSUER, order[j]), blocks[j], "block by key");
        }
        vm.assertEq(reg.signingKeyBlock(ISSUER, keccak256(abi.encode(seed, "never bound"))), 0, "unbound key");
    }

    /// Any non-zero key can be bound, once; the zero key never.
    function testFuzz_bindSigningKey_anyNonZeroKey(bytes32 key) public {
        if (key == bytes32(0)) {
            vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryZeroSigningKey.selector));
            vm.prank(ISSUER);
            reg.bindSigningKey(key);
            vm.assertEq(reg.signingKeyCount(ISSUER), 0, "nothing bound");
            return;
        }
        vm.prank(ISSUER);
        reg.bindSigningKey(key);
        vm.assertEq(reg.signingKeyAt(ISSUER, 0).publicKey, key, "bound as given");
        vm.assertEq(reg.signingKeyBlock(ISSUER, key), block.number, "block");
        vm.assertEq(reg.signingKeyBlock(address(0xBEEF), key), 0, "not bound for anyone else");
    }

    /// Any mask bit at or beyond the leaf count makes the whole call revert.
    function testFuzz_revoke_outOfRangeReverts(uint64 leafCount, uint256 index) public {
        leafCount = uint64(bound(leafCount, 1, 5000));
        index = bound(index, leafCount, uint256(leafCount) + 600);
        bytes32 root = keccak256(abi.encode(leafCount, index));
        vm.prank(ISSUER);
        reg.anchor(root, leafCount);
        ICredentialRegistry.RevocationWord[] memory words = new ICredentialRegistry.RevocationWord[](1);
        words[0] = ICredentialRegistry.RevocationWord(index / 256, 1 << (index % 256));
        vm.expectRevert(
            abi.encodeWithSelector(ICredentialRegistry.RegistryIndexOutOfRange.selector, root, index, leafCount)
        );
        vm.prank(ISSUER);
        reg.revoke(root, words, 0);
    }
}
