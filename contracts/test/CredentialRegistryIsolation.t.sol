// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {TestBase} from "./Vm.sol";
import {CredentialRegistry} from "../CredentialRegistry.sol";
import {ICredentialRegistry} from "../ICredentialRegistry.sol";

/// @dev Invariant 9, no issuer can touch another's batches or signing keys. Victim issuer A
/// anchors, revokes and binds keys from small pools of roots and keys; attacker issuer B calls
/// anchor, revoke, revokeBatch and bindSigningKey with any arguments, mostly on the same pools (A's
/// anchored roots and bound keys and the ones A has yet to use, as a mempool front-runner would),
/// while the admin removes and re-adds B. A ghost model of A alone predicts whether each of A's
/// calls succeeds; every B call must leave A's state unchanged.
contract IsolationHandler is TestBase {
    CredentialRegistry public immutable reg;
    address public constant ADMIN = address(0xA11CE);
    address public constant A = address(0xA);
    address public constant B = address(0xB);
    uint256 public constant POOL = 6; // roots both issuers draw from
    uint256 public constant MAX_LEAVES = 600; // so bitmaps have at most 3 words
    uint256 public constant WORDS = 4; // words 0..3: every used word and one beyond
    uint256 public constant KEY_POOL = 4; // signing keys both issuers draw from

    struct Ghost {
        uint64 leafCount;
        uint48 anchoredAt;
        uint64 anchoredBlock;
        uint48 revokedAt;
    }

    mapping(bytes32 root => Ghost) public ghost; // A's batches
    mapping(bytes32 root => mapping(uint256 word => uint256 bits)) public ghostBits; // A's bitmaps
    bytes32[] public ghostKeys; // A's signing keys, in binding order
    mapping(bytes32 key => uint64 boundBlock) public ghostKeyBlock; // A's keys' blocks
    bool public victimMispredicted; // an A call succeeded or failed against the model of A alone
    bool public victimTouched; // a B call changed A's state
    uint256 public victimSuccesses;
    uint256 public attackerSuccesses;

    constructor(CredentialRegistry registry) {
        reg = registry;
    }

    function root(uint256 i) public pure returns (bytes32) {
        return keccak256(abi.encode("pool root", i % POOL));
    }

    function key(uint256 i) public pure returns (bytes32) {
        return keccak256(abi.encode("pool key", i % KEY_POOL));
    }

    function ghostKeyCount() external view returns (uint256) {
        return ghostKeys.length;
    }

    // ----------------------------------------------------------------------- victim A

    function victimAnchor(uint256 rootSeed, uint64 leafCount) external {
        bytes32 r = root(rootSeed);
        leafCount = uint64(bound(leafCount, 1, MAX_LEAVES));
        _tick();
        bool expected = ghost[r].leafCount == 0;
        vm.prank(A);
        try reg.anchor(r, leafCount) {
            ghost[r] = Ghost(leafCount, uint48(block.timestamp), uint64(block.number), 0);
            _victimOutcome(true, expected);
        } catch {
            _victimOutcome(false, expected);
        }
    }

    function victimRevoke(uint256 rootSeed, uint256 word, uint256 mask, bool fresh, uint8 reason) external {
        bytes32 r = root(rootSeed);
        word = word % WORDS;
        if (fresh) mask &= ~ghostBits[r][word]; // mostly calls that should succeed
        bool expected = ghost[r].leafCount != 0 && mask != 0 && _inRange(ghost[r].leafCount, word, mask)
            && ghostBits[r][word] & mask == 0;
        vm.prank(A);
        try reg.revoke(r, _one(word, mask), reason) {
            ghostBits[r][word] |= mask;
            _victimOutcome(true, expected);
        } catch {
            _victimOutcome(false, expected);
        }
    }

    function victimRevokeBatch(uint256 rootSeed, uint8 reason) external {
        bytes32 r = root(rootSeed);
        _tick();
        bool expected = ghost[r].leafCount != 0 && ghost[r].revokedAt == 0;
        vm.prank(A);
        try reg.revokeBatch(r, reason) {
            ghost[r].revokedAt = uint48(block.timestamp);
            _victimOutcome(true, expected);
        } catch {
            _victimOutcome(false, expected);
        }
    }

    function victimBindKey(uint256 keySeed) external {
        bytes32 k = key(keySeed);
        _tick();
        bool expected = ghostKeyBlock[k] == 0;
        vm.prank(A);
        try reg.bindSigningKey(k) {
            ghostKeys.push(k);
            ghostKeyBlock[k] = uint64(block.number);
            _victimOutcome(true, expected);
        } catch {
            _victimOutcome(false, expected);
        }
    }

    // ----------------------------------------------------------------------- attacker B

    function attackerAnchor(uint256 rootSeed, bool anyRoot, bytes32 raw, uint64 leafCount) external {
        bytes32 r = anyRoot ? raw : root(rootSeed);
        _tick();
        bytes32 before = victimState();
        vm.prank(B);
        try reg.anchor(r, leafCount) {
            ++attackerSuccesses;
        } catch {}
        if (victimState() != before) victimTouched = true;
    }

    function attackerRevoke(
        uint256 rootSeed,
        bool anyRoot,
        bytes32 raw,
        uint256 word,
        bool anyWord,
        uint256 mask,
        uint8 reason
    ) external {
        bytes32 r = anyRoot ? raw : root(rootSeed);
        if (!anyWord) word = word % WORDS;
        bytes32 before = victimState();
        vm.prank(B);
        try reg.revoke(r, _one(word, mask), reason) {
            ++attackerSuccesses;
        } catch {}
        if (victimState() != before) victimTouched = true;
    }

    function attackerRevokeBatch(uint256 rootSeed, bool anyRoot, bytes32 raw, uint8 reason) external {
        bytes32 r = anyRoot ? raw : root(rootSeed);
        _tick();
        bytes32 before = victimState();
        vm.prank(B);
        try reg.revokeBatch(r, reason) {
            ++attackerSuccesses;
        } catch {}
        if (victimState() != before) victimTouched = true;
    }

    function attackerBindKey(uint256 keySeed, bool anyKey, bytes32 raw) external {
        bytes32 k = anyKey ? raw : key(keySeed);
        _tick();
        bytes32 before = victimState();
        vm.prank(B);
        try reg.bindSigningKey(k) {
            ++attackerSuccesses;
        } catch {}
        if (victimState() != before) victimTouched = true;
    }

    /// The admin removes or re-adds B, so B also acts as a removed issuer.
    function toggleAttacker() external {
        vm.startPrank(ADMIN);
        if (reg.issuerInfo(B).active) reg.removeIssuer(B);
        else reg.addIssuer(B, "https://b.example");
        vm.stopPrank();
    }

    // ----------------------------------------------------------------------- model

    /// Digest of everything the registry holds for A over the pools: records, bitmap words, keys.
    function victimState() public view returns (bytes32 digest) {
        for (uint256 i = 0; i < POOL; ++i) {
            bytes32 r = root(i);
            digest = keccak256(abi.encode(digest, reg.batchInfo(A, r), reg.isBatchRevoked(A, r)));
            for (uint256 w = 0; w < WORDS; ++w) {
                digest = keccak256(abi.encode(digest, reg.revocationWord(A, r, w)));
            }
        }
        uint32 keys = reg.signingKeyCount(A);
        digest = keccak256(abi.encode(digest, keys));
        for (uint32 i = 0; i < keys; ++i) {
            digest = keccak256(abi.encode(digest, reg.signingKeyAt(A, i)));
        }
        for (uint256 i = 0; i < KEY_POOL; ++i) {
            digest = keccak256(abi.encode(digest, reg.signingKeyBlock(A, key(i))));
        }
    }

    function _victimOutcome(bool succeeded, bool expected) internal {
        if (succeeded != expected) victimMispredicted = true;
        if (succeeded) ++victimSuccesses;
    }

    function _inRange(uint64 leafCount, uint256 word, uint256 mask) internal pure returns (bool) {
        // Bit b of word w is index w * 256 + b; word < WORDS keeps this far from overflow.
        for (uint256 b = 0; b < 256; ++b) {
            if ((mask >> b) & 1 == 1 && word * 256 + b >= leafCount) return false;
        }
        return true;
    }

    function _tick() internal {
        vm.warp(block.timestamp + 7);
        vm.roll(block.number + 1);
    }

    function _one(uint256 word, uint256 mask) internal pure returns (ICredentialRegistry.RevocationWord[] memory w) {
        w = new ICredentialRegistry.RevocationWord[](1);
        w[0] = ICredentialRegistry.RevocationWord(word, mask);
    }
}

/// @dev No sequence of calls by issuer B changes what issuer A can anchor, revoke or bind, or A's
/// batch records, revocation bitmaps and signing keys.
contract CredentialRegistryIsolationTest is TestBase {
    CredentialRegistry internal reg;
    IsolationHandler internal handler;

    function setUp() public {
        vm.warp(1_700_000_000);
        vm.roll(100);
        reg = new CredentialRegistry(address(this));
        handler = new IsolationHandler(reg);
        reg.addIssuer(handler.A(), "https://a.example");
        reg.addIssuer(handler.B(), "https://b.example");
        reg.transferAdmin(handler.ADMIN());
        vm.prank(handler.ADMIN());
        reg.acceptAdmin();
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function invariant_attackerNeverChangesWhatVictimCanDo() public view {
        vm.assertFalse(handler.victimMispredicted(), "a call by A succeeded or failed against A's own history");
    }

    function invariant_attackerNeverTouchesVictimState() public view {
        vm.assertFalse(handler.victimTouched(), "a call by B changed A's records or bitmaps");
    }

    function invariant_victimKeysEqualModel() public view {
        address a = handler.A();
        uint256 n = handler.ghostKeyCount();
        vm.assertEq(reg.signingKeyCount(a), n, "key count");
        for (uint256 i = 0; i < n; ++i) {
            bytes32 k = handler.ghostKeys(i);
            ICredentialRegistry.SigningKey memory bound = reg.signingKeyAt(a, uint32(i));
            vm.assertEq(bound.publicKey, k, "key order");
            vm.assertEq(bound.boundBlock, handler.ghostKeyBlock(k), "key block");
        }
        for (uint256 i = 0; i < handler.KEY_POOL(); ++i) {
            bytes32 k = handler.key(i);
            vm.assertEq(reg.signingKeyBlock(a, k), handler.ghostKeyBlock(k), "block by key");
        }
    }

    function invariant_victimStateEqualsModel() public view {
        address a = handler.A();
        for (uint256 i = 0; i < handler.POOL(); ++i) {
            bytes32 r = handler.root(i);
            (uint64 leafCount, uint48 anchoredAt, uint64 anchoredBlock, uint48 revokedAt) = handler.ghost(r);
            ICredentialRegistry.BatchInfo memory b = reg.batchInfo(a, r);
            vm.assertEq(b.issuer, leafCount == 0 ? address(0) : a, "issuer");
            vm.assertEq(b.leafCount, leafCount, "leaf count");
            vm.assertEq(b.anchoredAt, anchoredAt, "anchoredAt");
            vm.assertEq(b.anchoredBlock, anchoredBlock, "anchoredBlock");
            vm.assertEq(b.revokedAt, revokedAt, "revokedAt");
            for (uint256 w = 0; w < handler.WORDS(); ++w) {
                vm.assertEq(reg.revocationWord(a, r, w), handler.ghostBits(r, w), "bitmap word");
            }
        }
    }
}
