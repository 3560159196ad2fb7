// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @dev An independent, deliberately naive Merkle tree in Solidity (merkletools' shape: odd node
/// promoted) used to produce proofs for fuzz tests of {CredentialRegistry-verify}.
library MerkleTestTree {
    function root(bytes32[] memory leaves) internal pure returns (bytes32) {
        bytes32[] memory level = leaves;
        while (level.length > 1) level = up(level);
        return level[0];
    }

    function up(bytes32[] memory level) internal pure returns (bytes32[] memory next) {
        next = new bytes32[]((level.length + 1) / 2);
        for (uint256 i = 0; i + 1 < level.length; i += 2) {
            next[i / 2] = sha256(abi.encodePacked(level[i], level[i + 1]));
        }
        if (level.length % 2 == 1) next[next.length - 1] = level[level.length - 1];
    }

    function proof(bytes32[] memory leaves, uint256 index) internal pure returns (bytes32[] memory out) {
        bytes32[] memory scratch = new bytes32[](64);
        uint256 n = 0;
        bytes32[] memory level = leaves;
        while (level.length > 1) {
            uint256 sibling = index ^ 1;
            if (sibling < level.length) scratch[n++] = level[sibling];
            level = up(level);
            index /= 2;
        }
        out = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            out[i] = scratch[i];
        }
    }
}
