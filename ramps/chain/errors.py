"""Domain errors of the chain side."""

from gateway.common.problems import ConflictError, DomainError


class InvalidXpubError(DomainError):
    """The chain's key is not an account-level extended public key."""

    slug = "invalid-xpub"
    title = "Invalid extended public key"


class InvalidAssetIdError(DomainError):
    """A CAIP-19 asset id that does not parse."""

    slug = "invalid-asset-id"
    title = "Invalid CAIP-19 asset id"


class DepositNotConfirmedError(ConflictError):
    """Only a confirmed (final) deposit may be credited."""

    slug = "deposit-not-confirmed"
    title = "The deposit is not final"


class DepositAlreadyCreditedError(ConflictError):
    """A deposit is credited at most once."""

    slug = "deposit-already-credited"
    title = "The deposit is already credited"


class DepositAlreadyRefundedError(ConflictError):
    """A deposit with a refund recorded is never credited as well."""

    slug = "deposit-already-refunded"
    title = "The deposit is being refunded"


class ChainConfigError(DomainError):
    """A chain or token that cannot be configured as given (wrong chain id, not a token...)."""

    slug = "chain-config-invalid"
    title = "Invalid chain or token configuration"


class OutboundRefusedError(DomainError):
    """A sweep or refund that must not be sent as asked."""

    slug = "outbound-refused"
    title = "The transaction cannot be sent"


class InvalidRefundAddressError(DomainError):
    """A refund address that is not a checksummed EVM address the gateway can safely pay."""

    slug = "invalid-refund-address"
    title = "Invalid refund address"
