// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title TransferBurst
/// @notice Emits many ERC-20 Transfer events in one transaction, for the watcher benchmark.
/// @dev Holds no balances: it only produces the logs a busy token would, so a benchmark can
///      put thousands of Transfer logs in a block without thousands of transactions.
contract TransferBurst {
    event Transfer(address indexed from, address indexed to, uint256 value);

    /// @notice One Transfer(msg.sender, to[i], amount + i) per recipient.
    function burst(address[] calldata to, uint256 amount) external {
        for (uint256 i = 0; i < to.length; i++) {
            emit Transfer(msg.sender, to[i], amount + i);
        }
    }

    /// @notice ``count`` Transfers to addresses derived from ``seed`` (none of them deposit
    ///         addresses), the background traffic of a busy chain.
    function noise(uint256 seed, uint256 count) external {
        for (uint256 i = 0; i < count; i++) {
            emit Transfer(msg.sender, address(uint160(uint256(keccak256(abi.encode(seed, i))))), i + 1);
        }
    }

    function decimals() external pure returns (uint8) {
        return 6;
    }
}
