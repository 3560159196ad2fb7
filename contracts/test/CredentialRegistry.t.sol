// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {TestBase} from "./Vm.sol";
import {CredentialRegistry} from "../CredentialRegistry.sol";
import {ICredentialRegistry} from "../ICredentialRegistry.sol";
import {MerkleTestTree} from "./MerkleTestTree.sol";

/// @dev Unit tests: every function, every revert, every event.
contract CredentialRegistryTest is TestBase {
    CredentialRegistry internal reg;
    address internal constant ADMIN = address(0xA11CE);
    address internal constant ISSUER = address(0x1551);
    address internal constant OTHER = address(0x0BAD);
    string internal constant OTHER_PROFILE = "https://other.example";
    string internal constant PROFILE = "https://university.example/issuer";
    bytes32 internal constant ROOT = keccak256("root");

    function setUp() public {
        vm.warp(1_700_000_000);
        vm.roll(100);
        reg = new CredentialRegistry(ADMIN);
        vm.prank(ADMIN);
        reg.addIssuer(ISSUER, PROFILE);
    }

    function _words1(uint256 word, uint256 mask) internal pure returns (ICredentialRegistry.RevocationWord[] memory w) {
        w = new ICredentialRegistry.RevocationWord[](1);
        w[0] = ICredentialRegistry.RevocationWord(word, mask);
    }

    function _anchor(bytes32 root, uint64 count) internal {
        vm.prank(ISSUER);
        reg.anchor(root, count);
    }

    function _addOther() internal {
        vm.prank(ADMIN);
        reg.addIssuer(OTHER, OTHER_PROFILE);
    }

    // --------------------------------------------------------------------- admin

    function test_constructor_setsAdmin() public view {
        vm.assertEq(reg.admin(), ADMIN, "admin");
        vm.assertEq(reg.pendingAdmin(), address(0), "no pending admin");
    }

    function test_constructor_rejectsZeroAdmin() public {
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryZeroAddress.selector));
        new CredentialRegistry(address(0));
    }

    function test_transferAdmin_twoStep() public {
        vm.expectEmit();
        emit ICredentialRegistry.AdminTransferStarted(ADMIN, OTHER);
        vm.prank(ADMIN);
        reg.transferAdmin(OTHER);
        vm.assertEq(reg.admin(), ADMIN, "unchanged until accepted");
        vm.assertEq(reg.pendingAdmin(), OTHER, "pending");

        vm.expectEmit();
        emit ICredentialRegistry.AdminTransferred(ADMIN, OTHER);
        vm.prank(OTHER);
        reg.acceptAdmin();
        vm.assertEq(reg.admin(), OTHER, "new admin");
        vm.assertEq(reg.pendingAdmin(), address(0), "pending cleared");
    }

    function test_transferAdmin_onlyAdmin() public {
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryUnauthorizedAdmin.selector, OTHER));
        vm.prank(OTHER);
        reg.transferAdmin(OTHER);
    }

    function test_transferAdmin_rejectsZero() public {
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryZeroAddress.selector));
        vm.prank(ADMIN);
        reg.transferAdmin(address(0));
    }

    function test_acceptAdmin_onlyPending() public {
        vm.prank(ADMIN);
        reg.transferAdmin(OTHER);
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryUnauthorizedAdmin.selector, ISSUER));
        vm.prank(ISSUER);
        reg.acceptAdmin();
    }

    // --------------------------------------------------------------------- issuers

    function test_addIssuer_recordsAndEmits() public {
        vm.warp(1_700_000_500);
        vm.expectEmit();
        emit ICredentialRegistry.IssuerAdded(OTHER, 2, OTHER_PROFILE);
        vm.prank(ADMIN);
        reg.addIssuer(OTHER, OTHER_PROFILE);
        ICredentialRegistry.IssuerInfo memory info = reg.issuerInfo(OTHER);
        vm.assertEq(info.id, 2, "id");
        vm.assertTrue(info.active, "active");
        vm.assertEq(info.addedAt, 1_700_000_500, "addedAt");
        vm.assertEq(info.removedAt, 0, "removedAt");
        vm.assertEq(info.profileURI, OTHER_PROFILE, "profile");
        vm.assertEq(reg.issuerCount(), 2, "count");
        vm.assertEq(reg.issuerAccount(2), OTHER, "account by id");
    }

    function test_addIssuer_onlyAdmin() public {
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryUnauthorizedAdmin.selector, ISSUER));
        vm.prank(ISSUER);
        reg.addIssuer(OTHER, PROFILE);
    }

    function test_addIssuer_rejectsZeroAddressAndEmptyProfile() public {
        vm.startPrank(ADMIN);
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryZeroAddress.selector));
        reg.addIssuer(address(0), PROFILE);
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryEmptyProfileURI.selector));
        reg.addIssuer(OTHER, "");
        vm.stopPrank();
    }

    function test_addIssuer_rejectsActive() public {
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryIssuerAlreadyActive.selector, ISSUER));
        vm.prank(ADMIN);
        reg.addIssuer(ISSUER, PROFILE);
    }

    function test_removeIssuer_stopsAnchoringKeepsHistory() public {
        _anchor(ROOT, 10);
        vm.warp(1_700_001_000);
        vm.expectEmit();
        emit ICredentialRegistry.IssuerRemoved(ISSUER, 1);
        vm.prank(ADMIN);
        reg.removeIssuer(ISSUER);
        ICredentialRegistry.IssuerInfo memory info = reg.issuerInfo(ISSUER);
        vm.assertFalse(info.active, "inactive");
        vm.assertEq(info.removedAt, 1_700_001_000, "removedAt");
        vm.assertEq(reg.batchInfo(ISSUER, ROOT).issuer, ISSUER, "history kept");

        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryUnauthorizedIssuer.selector, ISSUER));
        vm.prank(ISSUER);
        reg.anchor(keccak256("later"), 1);

        // A removed issuer can still revoke what it anchored (revocation only removes trust).
        vm.prank(ISSUER);
        reg.revoke(ROOT, _words1(0, 1), 2);
        vm.assertTrue(reg.isRevoked(ISSUER, ROOT, 0), "revoked after removal");
    }

    function test_removeIssuer_onlyAdminAndActive() public {
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryUnauthorizedAdmin.selector, ISSUER));
        vm.prank(ISSUER);
        reg.removeIssuer(ISSUER);
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryIssuerNotActive.selector, OTHER));
        vm.prank(ADMIN);
        reg.removeIssuer(OTHER);
    }

    function test_readdIssuer_keepsIdAndProfile() public {
        vm.startPrank(ADMIN);
        reg.removeIssuer(ISSUER);
        vm.expectRevert(
            abi.encodeWithSelector(ICredentialRegistry.RegistryIssuerProfileMismatch.selector, ISSUER, PROFILE)
        );
        reg.addIssuer(ISSUER, "https://elsewhere.example");
        reg.addIssuer(ISSUER, PROFILE);
        vm.stopPrank();
        ICredentialRegistry.IssuerInfo memory info = reg.issuerInfo(ISSUER);
        vm.assertEq(info.id, 1, "same id");
        vm.assertTrue(info.active, "active again");
        vm.assertEq(reg.issuerCount(), 1, "no new id");
    }

    // --------------------------------------------------------------------- anchor

    function test_anchor_recordsOnceAndEmits() public {
        vm.warp(1_700_000_123);
        vm.roll(4242);
        vm.expectEmit();
        emit ICredentialRegistry.BatchAnchored(ROOT, ISSUER, 1000);
        _anchor(ROOT, 1000);
        ICredentialRegistry.BatchInfo memory b = reg.batchInfo(ISSUER, ROOT);
        vm.assertEq(b.issuer, ISSUER, "issuer");
        vm.assertEq(b.leafCount, 1000, "count");
        vm.assertEq(b.anchoredAt, 1_700_000_123, "time");
        vm.assertEq(b.anchoredBlock, 4242, "block");
        vm.assertEq(b.revokedAt, 0, "not revoked");
    }

    function test_anchor_rejectsReanchorBySameIssuer() public {
        _anchor(ROOT, 10);
        vm.warp(1_800_000_000);
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryRootAlreadyAnchored.selector, ROOT, ISSUER));
        _anchor(ROOT, 10);
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryRootAlreadyAnchored.selector, ROOT, ISSUER));
        _anchor(ROOT, 99);
        vm.assertEq(reg.batchInfo(ISSUER, ROOT).anchoredAt, 1_700_000_000, "first time kept");
        vm.assertEq(reg.batchInfo(ISSUER, ROOT).leafCount, 10, "first count kept");
    }

    function test_anchor_sameRootByTwoIssuersIsTwoBatches() public {
        _addOther();
        _anchor(ROOT, 10);
        vm.warp(1_700_000_777);
        vm.roll(555);
        vm.expectEmit();
        emit ICredentialRegistry.BatchAnchored(ROOT, OTHER, 99);
        vm.prank(OTHER);
        reg.anchor(ROOT, 99);
        ICredentialRegistry.BatchInfo memory mine = reg.batchInfo(ISSUER, ROOT);
        ICredentialRegistry.BatchInfo memory theirs = reg.batchInfo(OTHER, ROOT);
        vm.assertEq(mine.issuer, ISSUER, "issuer");
        vm.assertEq(mine.leafCount, 10, "count");
        vm.assertEq(mine.anchoredAt, 1_700_000_000, "time");
        vm.assertEq(mine.anchoredBlock, 100, "block");
        vm.assertEq(theirs.issuer, OTHER, "other issuer");
        vm.assertEq(theirs.leafCount, 99, "other count");
        vm.assertEq(theirs.anchoredAt, 1_700_000_777, "other time");
        vm.assertEq(theirs.anchoredBlock, 555, "other block");
    }

    function test_anchor_rejectsZeroRootZeroCountAndStrangers() public {
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryZeroRoot.selector));
        _anchor(bytes32(0), 1);
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryZeroLeafCount.selector));
        _anchor(ROOT, 0);
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryUnauthorizedIssuer.selector, OTHER));
        vm.prank(OTHER);
        reg.anchor(ROOT, 1);
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryUnauthorizedIssuer.selector, ADMIN));
        vm.prank(ADMIN);
        reg.anchor(ROOT, 1);
    }

    function test_anchor_maxLeafCount() public {
        _anchor(ROOT, type(uint64).max);
        vm.assertEq(reg.batchInfo(ISSUER, ROOT).leafCount, type(uint64).max, "count");
    }

    // --------------------------------------------------------------------- revoke

    function test_revoke_setsBitsAndEmits() public {
        _anchor(ROOT, 600);
        ICredentialRegistry.RevocationWord[] memory w = new ICredentialRegistry.RevocationWord[](2);
        w[0] = ICredentialRegistry.RevocationWord(0, (1 << 3) | (1 << 255));
        w[1] = ICredentialRegistry.RevocationWord(2, 1 << 87); // index 599, the last one
        vm.expectEmit();
        emit ICredentialRegistry.CredentialsRevoked(ROOT, ISSUER, 4, w);
        vm.prank(ISSUER);
        reg.revoke(ROOT, w, 4);
        vm.assertTrue(reg.isRevoked(ISSUER, ROOT, 3), "3");
        vm.assertTrue(reg.isRevoked(ISSUER, ROOT, 255), "255");
        vm.assertTrue(reg.isRevoked(ISSUER, ROOT, 599), "599");
        vm.assertFalse(reg.isRevoked(ISSUER, ROOT, 4), "4");
        vm.assertFalse(reg.isRevoked(ISSUER, ROOT, 256), "256");
        vm.assertEq(reg.revocationWord(ISSUER, ROOT, 0), (1 << 3) | (1 << 255), "word 0");
        vm.assertFalse(reg.isBatchRevoked(ISSUER, ROOT), "batch not revoked");
    }

    function test_revoke_onlyOwnBatch() public {
        _anchor(ROOT, 10);
        _addOther();
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryUnknownBatch.selector, OTHER, ROOT));
        vm.prank(OTHER);
        reg.revoke(ROOT, _words1(0, 1), 0);
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryUnknownBatch.selector, ADMIN, ROOT));
        vm.prank(ADMIN);
        reg.revoke(ROOT, _words1(0, 1), 0);
        vm.assertEq(reg.revocationWord(ISSUER, ROOT, 0), 0, "untouched");
    }

    function test_revoke_unknownBatch() public {
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryUnknownBatch.selector, ISSUER, ROOT));
        vm.prank(ISSUER);
        reg.revoke(ROOT, _words1(0, 1), 0);
    }

    function test_revoke_rejectsEmpty() public {
        _anchor(ROOT, 10);
        vm.startPrank(ISSUER);
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryEmptyRevocation.selector, ROOT));
        reg.revoke(ROOT, new ICredentialRegistry.RevocationWord[](0), 0);
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryEmptyRevocation.selector, ROOT));
        reg.revoke(ROOT, _words1(0, 0), 0);
        vm.stopPrank();
    }

    function test_revoke_rejectsOutOfRange() public {
        _anchor(ROOT, 300); // word 0 full, word 1 holds indices 256..299
        vm.startPrank(ISSUER);
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryIndexOutOfRange.selector, ROOT, 300, 300));
        reg.revoke(ROOT, _words1(1, 1 << 44), 0);
        vm.expectRevert(
            abi.encodeWithSelector(ICredentialRegistry.RegistryIndexOutOfRange.selector, ROOT, 512 + 7, 300)
        );
        reg.revoke(ROOT, _words1(2, 1 << 7), 0);
        vm.expectRevert(
            abi.encodeWithSelector(ICredentialRegistry.RegistryIndexOutOfRange.selector, ROOT, type(uint256).max, 300)
        );
        reg.revoke(ROOT, _words1(type(uint256).max, 1), 0);
        reg.revoke(ROOT, _words1(1, 1 << 43), 0); // index 299 is fine
        vm.stopPrank();
        vm.assertTrue(reg.isRevoked(ISSUER, ROOT, 299), "299");
    }

    function test_revoke_isPermanentAndOnce() public {
        _anchor(ROOT, 10);
        vm.startPrank(ISSUER);
        reg.revoke(ROOT, _words1(0, 0x6), 1);
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryAlreadyRevoked.selector, ROOT, 2));
        reg.revoke(ROOT, _words1(0, 0xC), 1);
        vm.stopPrank();
        vm.assertFalse(reg.isRevoked(ISSUER, ROOT, 3), "whole call reverted");
        vm.assertEq(reg.revocationWord(ISSUER, ROOT, 0), 0x6, "bits kept");
    }

    function test_revoke_duplicateWordInOneCall() public {
        _anchor(ROOT, 10);
        ICredentialRegistry.RevocationWord[] memory w = new ICredentialRegistry.RevocationWord[](2);
        w[0] = ICredentialRegistry.RevocationWord(0, 1);
        w[1] = ICredentialRegistry.RevocationWord(0, 1);
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryAlreadyRevoked.selector, ROOT, 0));
        vm.prank(ISSUER);
        reg.revoke(ROOT, w, 0);
    }

    function test_revokeBatch() public {
        _anchor(ROOT, 10);
        vm.warp(1_700_009_999);
        vm.expectEmit();
        emit ICredentialRegistry.BatchRevoked(ROOT, ISSUER, 2);
        vm.prank(ISSUER);
        reg.revokeBatch(ROOT, 2);
        vm.assertTrue(reg.isBatchRevoked(ISSUER, ROOT), "batch");
        vm.assertTrue(reg.isRevoked(ISSUER, ROOT, 7), "every index");
        vm.assertEq(reg.batchInfo(ISSUER, ROOT).revokedAt, 1_700_009_999, "time");
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryBatchAlreadyRevoked.selector, ROOT));
        vm.prank(ISSUER);
        reg.revokeBatch(ROOT, 2);
    }

    function test_revokeBatch_onlyOwnBatch() public {
        _anchor(ROOT, 10);
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryUnknownBatch.selector, OTHER, ROOT));
        vm.prank(OTHER);
        reg.revokeBatch(ROOT, 1);
        vm.expectRevert(
            abi.encodeWithSelector(ICredentialRegistry.RegistryUnknownBatch.selector, ISSUER, keccak256("x"))
        );
        vm.prank(ISSUER);
        reg.revokeBatch(keccak256("x"), 1);
        vm.assertFalse(reg.isBatchRevoked(ISSUER, ROOT), "untouched");
    }

    // --------------------------------------------------------------------- signing keys

    bytes32 internal constant KEY1 = keccak256("ed25519 key 1");
    bytes32 internal constant KEY2 = keccak256("ed25519 key 2");
    bytes32 internal constant KEY3 = keccak256("ed25519 key 3");

    function _bind(address who, bytes32 key) internal {
        vm.prank(who);
        reg.bindSigningKey(key);
    }

    function _assertKey(address who, uint32 index, bytes32 key, uint64 boundAt, uint64 boundBlock) internal view {
        ICredentialRegistry.SigningKey memory k = reg.signingKeyAt(who, index);
        vm.assertEq(k.publicKey, key, "key");
        vm.assertEq(k.boundAt, boundAt, "boundAt");
        vm.assertEq(k.boundBlock, boundBlock, "boundBlock");
        vm.assertEq(reg.signingKeyBlock(who, key), boundBlock, "block by key");
    }

    function test_bindSigningKey_recordsAndEmits() public {
        vm.assertEq(reg.signingKeyCount(ISSUER), 0, "no key yet");
        vm.assertEq(reg.signingKeyBlock(ISSUER, KEY1), 0, "never bound");
        vm.warp(1_700_000_321);
        vm.roll(321);
        vm.expectEmit();
        emit ICredentialRegistry.SigningKeyBound(ISSUER, KEY1, 0);
        _bind(ISSUER, KEY1);
        vm.assertEq(reg.signingKeyCount(ISSUER), 1, "one key");
        _assertKey(ISSUER, 0, KEY1, 1_700_000_321, 321);
    }

    /// Rotation appends: every earlier key stays listed, in binding order, with its own block.
    function test_bindSigningKey_rotationKeepsHistoryInOrder() public {
        _bind(ISSUER, KEY1);
        vm.warp(1_700_000_100);
        vm.roll(110);
        vm.expectEmit();
        emit ICredentialRegistry.SigningKeyBound(ISSUER, KEY2, 1);
        _bind(ISSUER, KEY2);
        vm.warp(1_700_000_200);
        vm.roll(120);
        vm.expectEmit();
        emit ICredentialRegistry.SigningKeyBound(ISSUER, KEY3, 2);
        _bind(ISSUER, KEY3);
        vm.assertEq(reg.signingKeyCount(ISSUER), 3, "three keys");
        _assertKey(ISSUER, 0, KEY1, 1_700_000_000, 100);
        _assertKey(ISSUER, 1, KEY2, 1_700_000_100, 110);
        _assertKey(ISSUER, 2, KEY3, 1_700_000_200, 120);
    }

    function test_bindSigningKey_rejectsRebindingOwnKey() public {
        _bind(ISSUER, KEY1);
        _bind(ISSUER, KEY2);
        vm.roll(999);
        vm.expectRevert(
            abi.encodeWithSelector(ICredentialRegistry.RegistrySigningKeyAlreadyBound.selector, ISSUER, KEY1)
        );
        _bind(ISSUER, KEY1); // an older key, after a rotation: still refused, not moved to the end
        vm.assertEq(reg.signingKeyCount(ISSUER), 2, "count unchanged");
        _assertKey(ISSUER, 0, KEY1, 1_700_000_000, 100);
    }

    function test_bindSigningKey_rejectsZeroKey() public {
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryZeroSigningKey.selector));
        _bind(ISSUER, bytes32(0));
        vm.assertEq(reg.signingKeyCount(ISSUER), 0, "nothing bound");
        vm.assertEq(reg.signingKeyBlock(ISSUER, bytes32(0)), 0, "zero key never bound");
    }

    function test_bindSigningKey_onlyActiveIssuers() public {
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryUnauthorizedIssuer.selector, OTHER));
        _bind(OTHER, KEY1);
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryUnauthorizedIssuer.selector, ADMIN));
        _bind(ADMIN, KEY1);
        // Authorization comes before the key checks: a stranger learns nothing about keys.
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryUnauthorizedIssuer.selector, OTHER));
        _bind(OTHER, bytes32(0));
        vm.assertEq(reg.signingKeyCount(OTHER), 0, "stranger has no key");
        vm.assertEq(reg.signingKeyCount(ADMIN), 0, "admin has no key");
    }

    /// A removed issuer binds nothing new but keeps its history; re-added, it resumes the history.
    function test_bindSigningKey_removedIssuerKeepsHistory() public {
        _bind(ISSUER, KEY1);
        vm.prank(ADMIN);
        reg.removeIssuer(ISSUER);
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryUnauthorizedIssuer.selector, ISSUER));
        _bind(ISSUER, KEY2);
        vm.assertEq(reg.signingKeyCount(ISSUER), 1, "history kept");
        _assertKey(ISSUER, 0, KEY1, 1_700_000_000, 100);

        vm.prank(ADMIN);
        reg.addIssuer(ISSUER, PROFILE);
        vm.expectRevert(
            abi.encodeWithSelector(ICredentialRegistry.RegistrySigningKeyAlreadyBound.selector, ISSUER, KEY1)
        );
        _bind(ISSUER, KEY1);
        vm.roll(130);
        _bind(ISSUER, KEY2);
        vm.assertEq(reg.signingKeyCount(ISSUER), 2, "history resumed");
        _assertKey(ISSUER, 1, KEY2, 1_700_000_000, 130);
    }

    /// Keys are per issuer, like batches: the same key bound by two issuers is two bindings.
    function test_bindSigningKey_sameKeyByTwoIssuersIsTwoBindings() public {
        _addOther();
        _bind(ISSUER, KEY1);
        vm.roll(200);
        vm.warp(1_700_000_999);
        vm.expectEmit();
        emit ICredentialRegistry.SigningKeyBound(OTHER, KEY1, 0);
        _bind(OTHER, KEY1);
        _assertKey(ISSUER, 0, KEY1, 1_700_000_000, 100);
        _assertKey(OTHER, 0, KEY1, 1_700_000_999, 200);
        _bind(OTHER, KEY2);
        vm.assertEq(reg.signingKeyCount(ISSUER), 1, "mine unchanged");
        vm.assertEq(reg.signingKeyBlock(ISSUER, KEY2), 0, "their key is not mine");
        vm.assertEq(reg.signingKeyCount(OTHER), 2, "theirs");
    }

    function test_signingKeyAt_outOfRange() public {
        vm.expectRevert(
            abi.encodeWithSelector(ICredentialRegistry.RegistrySigningKeyIndexOutOfRange.selector, ISSUER, 0, 0)
        );
        reg.signingKeyAt(ISSUER, 0);
        _bind(ISSUER, KEY1);
        vm.expectRevert(
            abi.encodeWithSelector(ICredentialRegistry.RegistrySigningKeyIndexOutOfRange.selector, ISSUER, 1, 1)
        );
        reg.signingKeyAt(ISSUER, 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICredentialRegistry.RegistrySigningKeyIndexOutOfRange.selector, ISSUER, type(uint32).max, 1
            )
        );
        reg.signingKeyAt(ISSUER, type(uint32).max);
    }

    // --------------------------------------------------------------------- front-running (invariant 9)

    /// Issuer B copies issuer A's pending `anchor(root)` from the mempool and gets it mined first.
    /// A's anchoring still succeeds, and from then on each controls only its own batch.
    function test_frontRunning_copiedAnchorDoesNotBlockOrTouchVictim() public {
        address a = ISSUER;
        address b = OTHER;
        _addOther();

        // B front-runs A with A's exact calldata.
        vm.prank(b);
        reg.anchor(ROOT, 10);
        vm.roll(101);
        vm.warp(1_700_000_012);
        vm.expectEmit();
        emit ICredentialRegistry.BatchAnchored(ROOT, a, 10);
        vm.prank(a);
        reg.anchor(ROOT, 10);
        vm.assertEq(reg.batchInfo(a, ROOT).issuer, a, "A holds its batch");
        vm.assertEq(reg.batchInfo(a, ROOT).anchoredBlock, 101, "A's own anchoring");
        vm.assertEq(reg.batchInfo(b, ROOT).anchoredBlock, 100, "B's copy is separate");

        // B revoking its copy, index by index and as a whole, leaves A's batch untouched.
        vm.startPrank(b);
        reg.revoke(ROOT, _words1(0, 0x3ff), 9);
        reg.revokeBatch(ROOT, 9);
        vm.stopPrank();
        vm.assertTrue(reg.isBatchRevoked(b, ROOT), "B's copy revoked");
        vm.assertFalse(reg.isBatchRevoked(a, ROOT), "A's batch not revoked");
        vm.assertEq(reg.revocationWord(a, ROOT, 0), 0, "A's bitmap clean");
        vm.assertFalse(reg.isRevoked(a, ROOT, 0), "A's credential valid");
        vm.assertEq(reg.batchInfo(a, ROOT).revokedAt, 0, "A's record clean");

        // A revokes its own credentials; B's bitmap is not A's.
        vm.expectEmit();
        emit ICredentialRegistry.CredentialsRevoked(ROOT, a, 1, _words1(0, 1 << 4));
        vm.prank(a);
        reg.revoke(ROOT, _words1(0, 1 << 4), 1);
        vm.assertTrue(reg.isRevoked(a, ROOT, 4), "A revoked 4");
        vm.assertFalse(reg.isRevoked(a, ROOT, 5), "A's 5 valid");
        vm.assertEq(reg.revocationWord(b, ROOT, 0), 0x3ff, "B's bitmap unchanged");
        vm.prank(a);
        reg.revokeBatch(ROOT, 1);
        vm.assertTrue(reg.isBatchRevoked(a, ROOT), "A revoked its batch");
    }

    /// B cannot revoke A's batch: B has no batch `root` of its own.
    function test_frontRunning_otherIssuerCannotRevoke() public {
        _addOther();
        _anchor(ROOT, 10);
        vm.startPrank(OTHER);
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryUnknownBatch.selector, OTHER, ROOT));
        reg.revoke(ROOT, _words1(0, 1), 0);
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.RegistryUnknownBatch.selector, OTHER, ROOT));
        reg.revokeBatch(ROOT, 0);
        vm.stopPrank();
        vm.assertFalse(reg.isRevoked(ISSUER, ROOT, 0), "A's credential valid");
        vm.assertFalse(reg.isBatchRevoked(ISSUER, ROOT), "A's batch valid");
    }

    /// A proof checks against the issuer named by the verifier: B's copy of a root does not make
    /// A's credentials verify under B, and revoking B's copy does not revoke A's.
    function test_frontRunning_verifyAndRevocationAreByIssuer() public {
        bytes32[] memory leaves = new bytes32[](3);
        for (uint256 i = 0; i < 3; ++i) {
            leaves[i] = sha256(abi.encodePacked(bytes1(0x00), i));
        }
        bytes32 root = MerkleTestTree.root(leaves);
        bytes32[] memory p = MerkleTestTree.proof(leaves, 1);
        _addOther();
        _anchor(root, 3);
        vm.assertTrue(reg.verify(ISSUER, root, leaves[1], 1, p), "under A");
        vm.assertFalse(reg.verify(OTHER, root, leaves[1], 1, p), "not under B, who never anchored it");
        vm.prank(OTHER);
        reg.anchor(root, 1); // a copy with a different leaf count
        vm.assertFalse(reg.verify(OTHER, root, leaves[1], 1, p), "B's copy has one leaf");
        vm.assertTrue(reg.verify(ISSUER, root, leaves[1], 1, p), "A unaffected");
    }

    // --------------------------------------------------------------------- views

    function test_views_unknown() public {
        ICredentialRegistry.BatchInfo memory b = reg.batchInfo(ISSUER, ROOT);
        vm.assertEq(b.issuer, address(0), "no issuer");
        vm.assertEq(b.leafCount, 0, "no count");
        vm.assertFalse(reg.isRevoked(ISSUER, ROOT, 0), "not revoked");
        _anchor(ROOT, 10);
        b = reg.batchInfo(OTHER, ROOT);
        vm.assertEq(b.issuer, address(0), "another issuer's root is not OTHER's batch");
        vm.assertEq(b.anchoredAt, 0, "no time");
        ICredentialRegistry.IssuerInfo memory i = reg.issuerInfo(OTHER);
        vm.assertEq(i.id, 0, "no id");
        vm.assertEq(reg.issuerAccount(77), address(0), "no account");
    }

    function test_verify_bindsIndex() public {
        bytes32[] memory leaves = new bytes32[](5);
        for (uint256 i = 0; i < 5; ++i) {
            leaves[i] = sha256(abi.encodePacked(bytes1(0x00), i));
        }
        bytes32 root = MerkleTestTree.root(leaves);
        vm.assertFalse(reg.verify(ISSUER, root, leaves[0], 0, MerkleTestTree.proof(leaves, 0)), "not anchored yet");
        _anchor(root, 5);
        for (uint256 i = 0; i < 5; ++i) {
            bytes32[] memory p = MerkleTestTree.proof(leaves, i);
            vm.assertTrue(reg.verify(ISSUER, root, leaves[i], i, p), "valid");
            for (uint256 j = 0; j < 6; ++j) {
                if (j != i) vm.assertFalse(reg.verify(ISSUER, root, leaves[i], j, p), "other index");
            }
        }
        // Leaf 4 is promoted twice: its proof is one step (the level-2 node over leaves 0..3).
        vm.assertEq(MerkleTestTree.proof(leaves, 4).length, 1, "promoted leaf proof");
    }
}
