"""What the chain watcher knows: chains, tokens, deposit addresses, deposits and seen blocks.

The watcher only ever holds an extended *public* key: it can derive deposit addresses but can
never move their funds (invariant 8). A deposit is a fact about the chain; the gateway decides
what it means for a transfer and records that it credited it (``Deposit.credited_at``).
"""

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models

from gateway.common.models import BaseModel, TokenAmountField
from gateway.common.money import from_base_units


class Chain(BaseModel):
    """One EVM chain the gateway accepts deposits on, with the watcher's progress on it."""

    caip2 = models.CharField(
        max_length=64, unique=True, help_text='CAIP-2 chain id, e.g. "eip155:137".'
    )
    name = models.CharField(max_length=100)
    chain_id = models.PositiveBigIntegerField(help_text="EIP-155 chain id.")
    rpc_url = models.CharField(
        max_length=500,
        help_text="JSON-RPC endpoint. May embed a provider key, so it is never logged.",
    )
    confirmations = models.PositiveIntegerField(
        default=12,
        validators=[MinValueValidator(1)],
        help_text=(
            "Blocks, counting the deposit's own block, before a deposit is final: a deposit "
            "mined in block B is confirmed once head - B + 1 >= confirmations."
        ),
    )
    max_log_range = models.PositiveIntegerField(
        default=1000,
        validators=[MinValueValidator(1)],
        help_text="Most blocks asked for in one eth_getLogs call (providers cap it).",
    )
    xpub = models.CharField(
        max_length=200,
        blank=True,
        help_text=(
            "Account-level extended PUBLIC key, at m/44'/60'/<account>'. Deposit address i "
            "is derived at <xpub>/0/i (the full path m/44'/60'/<account>'/0/i)."
        ),
    )
    next_address_index = models.PositiveIntegerField(
        default=0, help_text="Derivation index the next deposit address gets; never reused."
    )
    start_block = models.PositiveBigIntegerField(
        default=0, help_text="First block the watcher scans when it has no cursor yet."
    )
    cursor_block = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Last block fully scanned; empty before the first scan."
    )
    head_block = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Chain head at the last successful poll."
    )
    last_error = models.TextField(
        blank=True, help_text="Error of the last poll; empty if it worked."
    )
    last_polled_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["caip2"]

    def __str__(self) -> str:
        return f"{self.name} ({self.caip2})"

    @property
    def lag_blocks(self) -> int | None:
        """Blocks between the head and the scan cursor, for operators."""
        if self.head_block is None:
            return None
        scanned = self.cursor_block if self.cursor_block is not None else self.start_block - 1
        return max(self.head_block - scanned, 0)


class Token(BaseModel):
    """An ERC-20 token accepted on a chain."""

    chain = models.ForeignKey(Chain, on_delete=models.PROTECT, related_name="tokens")
    symbol = models.CharField(max_length=20)
    contract_address = models.CharField(max_length=42, help_text="EIP-55 checksummed address.")
    decimals = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["chain", "symbol"]
        constraints = [
            models.UniqueConstraint(fields=["chain", "symbol"], name="chain_token_unique_symbol"),
            models.UniqueConstraint(
                fields=["chain", "contract_address"], name="chain_token_unique_contract"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} on {self.chain.caip2}"

    @property
    def caip19(self) -> str:
        """CAIP-19 asset id, e.g. ``eip155:1/erc20:0xA0b8...``."""
        return f"{self.chain.caip2}/erc20:{self.contract_address}"


class DepositAddress(BaseModel):
    """An address derived from the chain's xpub and handed out for deposits."""

    chain = models.ForeignKey(Chain, on_delete=models.PROTECT, related_name="deposit_addresses")
    address = models.CharField(max_length=42, help_text="EIP-55 checksummed address.")
    derivation_index = models.PositiveIntegerField(
        help_text="Index i of the path <xpub>/0/i the address was derived at."
    )

    class Meta:
        ordering = ["chain", "derivation_index"]
        verbose_name_plural = "deposit addresses"
        constraints = [
            models.UniqueConstraint(
                fields=["chain", "address"], name="chain_deposit_address_unique_address"
            ),
            models.UniqueConstraint(
                fields=["chain", "derivation_index"], name="chain_deposit_address_unique_index"
            ),
        ]

    def __str__(self) -> str:
        return self.address


class Deposit(BaseModel):
    """One ERC-20 Transfer log that paid a deposit address."""

    class Status(models.TextChoices):
        # In a block the watcher scanned, not yet deep enough to be final.
        SEEN = "seen", "Seen"
        # Its block was still on the chain at ``confirmations`` depth: final, may be credited.
        CONFIRMED = "confirmed", "Confirmed"
        # Its block left the chain before it was final. Never credited; if the transaction is
        # mined again with the same log index, the rescan turns it back into ``seen``.
        REORGED = "reorged", "Reorged"

    chain = models.ForeignKey(Chain, on_delete=models.PROTECT, related_name="deposits")
    token = models.ForeignKey(Token, on_delete=models.PROTECT, related_name="deposits")
    deposit_address = models.ForeignKey(
        DepositAddress, on_delete=models.PROTECT, related_name="deposits"
    )
    tx_hash = models.CharField(max_length=66, help_text="0x-prefixed lowercase hex.")
    log_index = models.PositiveIntegerField(help_text="Position of the log in its block.")
    block_number = models.PositiveBigIntegerField()
    block_hash = models.CharField(max_length=66, help_text="0x-prefixed lowercase hex.")
    from_address = models.CharField(max_length=42, help_text="EIP-55 checksummed payer.")
    amount = TokenAmountField(help_text="Amount in the token's integer base units.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SEEN)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    credited_at = models.DateTimeField(
        null=True, blank=True, help_text="When the gateway credited it to a transfer."
    )

    class Meta:
        ordering = ["chain", "block_number", "log_index"]
        constraints = [
            models.UniqueConstraint(
                fields=["chain", "tx_hash", "log_index"], name="chain_deposit_unique_log"
            ),
        ]
        indexes = [
            models.Index(fields=["chain", "status", "block_number"], name="chain_deposit_status"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} base units of {self.token.symbol} in {self.tx_hash}"

    @property
    def amount_decimal(self) -> Decimal:
        """The amount as an exact Decimal in whole tokens."""
        return from_base_units(self.amount, self.token.decimals)


class ChainBlock(BaseModel):
    """A block hash the watcher saw at a height; a later mismatch at that height is a reorg."""

    chain = models.ForeignKey(Chain, on_delete=models.CASCADE, related_name="blocks")
    number = models.PositiveBigIntegerField()
    hash = models.CharField(max_length=66, help_text="0x-prefixed lowercase hex.")

    class Meta:
        ordering = ["chain", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["chain", "number"], name="chain_block_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.chain.caip2} #{self.number} {self.hash}"
