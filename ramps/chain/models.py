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
from ramps.chain.validators import checksum_address_validator


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
    class Finality(models.TextChoices):
        # A deposit is final ``confirmations`` blocks deep (proof-of-work style chains, L2s
        # whose nodes do not serve the tags).
        DEPTH = "depth", "Fixed depth"
        # A deposit is final once its block is at or below the node's ``safe`` block.
        SAFE = "safe", "safe block tag"
        # A deposit is final once its block is at or below the node's ``finalized`` block
        # (Ethereum proof-of-stake finality, about two epochs).
        FINALIZED = "finalized", "finalized block tag"

    finality = models.CharField(
        max_length=16, choices=Finality.choices, default=Finality.DEPTH,
        help_text="How the watcher decides that a deposit is final.",
    )
    poll_interval_seconds = models.PositiveIntegerField(
        default=5, validators=[MinValueValidator(1)],
        help_text="Least time between two polls of this chain (slow chains need fewer).",
    )
    log_range_current = models.PositiveIntegerField(
        null=True, blank=True,
        help_text=(
            "Block range the watcher currently asks for in one eth_getLogs call; shrinks when "
            "the node refuses or times out, grows back towards max_log_range when it is healthy."
        ),
    )
    treasury_address = models.CharField(
        max_length=42, blank=True,
        help_text="EIP-55 address that deposit addresses are swept to.",
    )
    gas_topup_wei = TokenAmountField(
        default=0,
        help_text=(
            "Native coin (wei) sent to a deposit address that cannot pay for its sweep; 0 means "
            "twice the sweep's own gas cost."
        ),
    )
    stuck_after_seconds = models.PositiveIntegerField(
        default=180,
        help_text="A sent transaction without a receipt this long is replaced with higher fees.",
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
    cursor_block_time = models.DateTimeField(
        null=True, blank=True,
        help_text=(
            "Timestamp of the cursor block (chain time, not this server's clock): a deposit "
            "window has ended on this chain once it is past the window's end. Empty until a "
            "range is scanned and after a reorg rewinds the cursor."
        ),
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
    decimals = models.PositiveSmallIntegerField(
        help_text="Read from the contract when the token is added; never typed by hand."
    )
    is_accepted = models.BooleanField(
        default=True,
        help_text=(
            "Deposits of a watched but not accepted token are recorded and flagged for an "
            "operator (refund), never credited."
        ),
    )

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
    closed_at = models.DateTimeField(
        null=True, blank=True,
        help_text=(
            "When its owner (a transfer) stopped accepting deposits; later deposits are still "
            "recorded, flagged for an operator."
        ),
    )
    closed_after_block = models.PositiveBigIntegerField(
        null=True, blank=True,
        help_text=(
            "The watcher's cursor when the address closed: a deposit in a later block had not "
            "been seen when its owner decided, so it is flagged, whatever the clocks say."
        ),
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
        # Its block left the chain. Never credited or refunded while it is; one that was final
        # (a reorg deeper than finality) has a ChainIncident and keeps ``credited_at`` if it
        # was credited. Mined again with the same log index, the rescan makes it ``seen``.
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
    block_time = models.DateTimeField(
        null=True, blank=True,
        help_text=(
            "Timestamp of the deposit's block (chain time): a deposit stamped after its "
            "transfer's deposit window is late, however early the watcher saw it."
        ),
    )
    from_address = models.CharField(max_length=42, help_text="EIP-55 checksummed payer.")
    amount = TokenAmountField(help_text="Amount in the token's integer base units.")
    class Flag(models.TextChoices):
        # Nothing unusual: the gateway may credit it once confirmed.
        NONE = "", "None"
        # Paid to an address whose owner had already closed it (transfer expired, completed or
        # cancelled): an operator refunds it or attaches it by hand.
        ADDRESS_CLOSED = "address_closed", "Address closed"
        # A token the chain watches but does not accept: never credited, refund case.
        TOKEN_NOT_ACCEPTED = "token_not_accepted", "Token not accepted"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SEEN)
    flag = models.CharField(
        max_length=32, choices=Flag.choices, default=Flag.NONE, blank=True,
        help_text="Why an operator must look at this deposit; empty when nothing is unusual.",
    )
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


class ChainIncident(BaseModel):
    """Something on a chain that operators must resolve by hand; never closed automatically.

    A reorg deeper than the chain's finality setting after a deposit was confirmed (and perhaps
    credited) is the main case: the gateway freezes the transfers it touches until an operator
    resolves the incident.
    """

    class Kind(models.TextChoices):
        DEEP_REORG = "deep_reorg", "Reorg deeper than finality"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    chain = models.ForeignKey(Chain, on_delete=models.PROTECT, related_name="incidents")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    deposit = models.ForeignKey(
        Deposit, on_delete=models.PROTECT, null=True, blank=True, related_name="incidents"
    )
    block_number = models.PositiveBigIntegerField(null=True, blank=True)
    detail = models.TextField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True)
    resolution_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One incident per deposit and kind, however many scans see the same reorg.
            models.UniqueConstraint(fields=["deposit", "kind"],
                                    name="chain_incident_unique_deposit_kind"),
        ]
        indexes = [models.Index(fields=["chain", "status"], name="chain_incident_status")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.chain.caip2} ({self.status})"


class ExchangeAddress(BaseModel):
    """A wallet known to belong to an exchange (an omnibus or hot wallet): a refund sent there
    is credited to nobody, so refunds to it wait for an operator. Editable in the admin; the
    ``CHAIN_EXCHANGE_ADDRESSES`` setting adds addresses for every chain."""

    chain = models.ForeignKey(
        Chain, on_delete=models.CASCADE, null=True, blank=True, related_name="exchange_addresses",
        help_text="Empty: the address is an exchange's on every EVM chain.",
    )
    address = models.CharField(max_length=42, validators=[checksum_address_validator],
                               help_text="EIP-55 checksummed address.")
    label = models.CharField(max_length=120, help_text='Whose wallet, e.g. "Binance hot wallet".')

    class Meta:
        ordering = ["label", "address"]
        constraints = [
            models.UniqueConstraint(fields=["chain", "address"],
                                    name="chain_exchange_address_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.address})"


class AddressNonce(BaseModel):
    """Next nonce of an address the gateway sends from, allocated under a row lock.

    The node's pending count is not enough: two workers reading it at once get the same nonce
    and one transaction replaces the other.
    """

    chain = models.ForeignKey(Chain, on_delete=models.CASCADE, related_name="nonces")
    address = models.CharField(max_length=42, help_text="EIP-55 checksummed sender.")
    next_nonce = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain", "address"], name="chain_nonce_unique_address"),
        ]

    def __str__(self) -> str:
        return f"{self.address} on {self.chain.caip2}: next nonce {self.next_nonce}"


class OutboundTransaction(BaseModel):
    """A transaction the gateway sends: a sweep, a refund or a gas top-up.

    The row (with its reference, nonce, fees and signed bytes) is committed before anything is
    broadcast, so a crash never leads to a second, different transaction for one reference: the
    next attempt broadcasts the same signed bytes again or replaces them with the same nonce.
    """

    class Kind(models.TextChoices):
        SWEEP = "sweep", "Sweep to treasury"
        REFUND = "refund", "Refund"
        GAS_TOPUP = "gas_topup", "Gas top-up"

    class Status(models.TextChoices):
        # Stored, nothing signed or sent yet.
        CREATED = "created", "Created"
        # A sweep waiting for its gas top-up to be mined.
        WAITING_GAS = "waiting_gas", "Waiting for gas"
        # Signed and handed to the node (perhaps more than once, same nonce); no receipt yet.
        BROADCAST = "broadcast", "Broadcast"
        # Mined with status 1.
        CONFIRMED = "confirmed", "Confirmed"
        # Mined and reverted, or refused for good: an operator decides what next.
        FAILED = "failed", "Failed"
        # A refund with no safe destination (the payer is a contract or an exchange's wallet
        # and no refund address was given): nothing is signed until an operator sets one.
        NEEDS_DESTINATION = "needs_destination", "Needs a destination (operator)"

    chain = models.ForeignKey(Chain, on_delete=models.PROTECT, related_name="outbound")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    reference = models.CharField(
        max_length=120, unique=True,
        help_text="Idempotency reference of the caller; one transaction per reference, ever.",
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CREATED)
    token = models.ForeignKey(
        Token, on_delete=models.PROTECT, null=True, blank=True, related_name="outbound",
        help_text="Empty for the chain's native coin (gas top-ups).",
    )
    deposit = models.ForeignKey(
        Deposit, on_delete=models.PROTECT, null=True, blank=True, related_name="outbound",
        help_text="The deposit a refund returns (part of).",
    )
    source_derivation_index = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Deposit address index that signs (sweeps); empty for the hot wallet.",
    )
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children",
        help_text="The sweep a gas top-up pays for.",
    )
    from_address = models.CharField(max_length=42)
    to_address = models.CharField(
        max_length=42, blank=True,
        help_text="Recipient; empty only while a refund needs a destination from an operator.",
    )
    amount = TokenAmountField(help_text="Token (or wei) amount in integer base units.")
    nonce = models.PositiveBigIntegerField(null=True, blank=True)
    gas_limit = models.PositiveBigIntegerField(null=True, blank=True)
    max_fee_per_gas = TokenAmountField(null=True, blank=True, help_text="wei per gas")
    max_priority_fee_per_gas = TokenAmountField(null=True, blank=True, help_text="wei per gas")
    tx_hash = models.CharField(max_length=66, blank=True, help_text="Newest broadcast hash.")
    raw_transaction = models.TextField(
        blank=True, help_text="Signed bytes of the newest attempt (public data, no key)."
    )
    attempts = models.JSONField(
        default=list, blank=True,
        help_text="Every signed attempt: hash, fees and time; replacements share the nonce.",
    )
    broadcast_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    block_number = models.PositiveBigIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    review_reason = models.CharField(
        max_length=300, blank=True,
        help_text="Why a refund waits for an operator to choose its destination.",
    )
    destination_set_by = models.CharField(
        max_length=150, blank=True,
        help_text="The operator who chose the destination of a held refund.",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["chain", "from_address", "nonce"], name="chain_outbound_unique_nonce",
                condition=models.Q(nonce__isnull=False),
            ),
        ]
        indexes = [models.Index(fields=["chain", "status"], name="chain_outbound_status")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.reference} ({self.status})"
