// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {TestBase} from "./Vm.sol";
import {CredentialRegistry} from "../CredentialRegistry.sol";
import {ICredentialRegistry} from "../ICredentialRegistry.sol";

/// @dev Gas an issuer pays per transaction: 21,000 base + calldata + the registry's execution
/// (`vm.lastCallGas`, the callee frame only, as in a transaction sent straight to the registry).
/// Agrees with `forge test --gas-report`; logged with `-vv`. The anchoring bound is the budget;
/// binding a signing key (rare: once per key rotation) has a looser one.
/// Revocations act on a batch anchored in `setUp`, so its slot is cold and clean, as in a real
/// transaction (a batch anchored in the same test call would be warm and dirty: ~2,000-4,800 less).
contract CredentialRegistryGasTest is TestBase {
    event log_named_uint(string key, uint256 val);

    CredentialRegistry internal reg;
    address internal constant ISSUER = address(0x1551);
    bytes32 internal constant ROOT = keccak256("root"); // anchored in setUp, 256 leaves
    uint256 internal constant ANCHOR_BUDGET = 55_000;
    address internal constant ROTATING = address(0x2662); // an issuer with one key bound in setUp
    uint256 internal constant BIND_BUDGET = 100_000;

    function setUp() public {
        reg = new CredentialRegistry(address(this));
        reg.addIssuer(ISSUER, "https://university.example/issuer");
        vm.prank(ISSUER);
        reg.anchor(ROOT, 256);
        reg.addIssuer(ROTATING, "https://rotating.example/issuer");
        vm.prank(ROTATING);
        reg.bindSigningKey(keccak256("first key"));
    }

    /// The first key of an issuer also starts its key list (a zero-to-non-zero length write).
    function test_gas_bindFirstSigningKey() public {
        uint256 gas =
            _txGasAs(ISSUER, "bindSigningKey (first key)", abi.encodeCall(reg.bindSigningKey, (keccak256("k"))));
        vm.assertTrue(gas <= BIND_BUDGET, "binding over budget");
    }

    function test_gas_rotateSigningKey() public {
        uint256 gas = _txGasAs(
            ROTATING, "bindSigningKey (rotation)", abi.encodeCall(reg.bindSigningKey, (keccak256("second key")))
        );
        vm.assertTrue(gas <= BIND_BUDGET, "rotation over budget");
    }

    function test_gas_anchorBatchOfOne() public {
        uint256 gas = _txGas("anchor (batch of 1)", abi.encodeCall(reg.anchor, (keccak256("new root"), 1)));
        vm.assertTrue(gas <= ANCHOR_BUDGET, "anchoring over budget");
    }

    function test_gas_revokeOneIndex() public {
        _txGas("revoke 1 index", abi.encodeCall(reg.revoke, (ROOT, _one(0, 1 << 17), 1)));
    }

    function test_gas_revokeWholeWord() public {
        _txGas("revoke 256 indices (one word)", abi.encodeCall(reg.revoke, (ROOT, _one(0, type(uint256).max), 1)));
    }

    function test_gas_revokeBatch() public {
        _txGas("revokeBatch", abi.encodeCall(reg.revokeBatch, (ROOT, 1)));
    }

    function _txGas(string memory what, bytes memory data) internal returns (uint256 gas) {
        return _txGasAs(ISSUER, what, data);
    }

    function _txGasAs(address sender, string memory what, bytes memory data) internal returns (uint256 gas) {
        vm.prank(sender);
        (bool ok,) = address(reg).call(data);
        vm.assertTrue(ok, what);
        gas = 21_000 + _calldataGas(data) + vm.lastCallGas().gasTotalUsed;
        emit log_named_uint(what, gas);
    }

    /// @dev 4 gas per zero byte, 16 per other byte (EIP-2028; the EIP-7623 floor is lower here).
    function _calldataGas(bytes memory data) internal pure returns (uint256 gas) {
        for (uint256 i = 0; i < data.length; ++i) {
            gas += data[i] == 0 ? 4 : 16;
        }
    }

    function _one(uint256 word, uint256 mask) internal pure returns (ICredentialRegistry.RevocationWord[] memory w) {
        w = new ICredentialRegistry.RevocationWord[](1);
        w[0] = ICredentialRegistry.RevocationWord(word, mask);
    }
}
