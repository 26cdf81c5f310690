"""Configuration of chains and tokens, checked against the node that serves them.

A chain is added only when its node answers with the chain id its CAIP-2 id names (an RPC URL
of another chain would hand out addresses and credit deposits on the wrong chain); a token
only with the decimals its contract reports (a decimals value typed by hand scales every
amount by a power of ten).
"""

import logging
import re

from django.db import IntegrityError, transaction

from gateway.common.problems import ConflictError
from ramps.chain.addresses import deposit_address_derive
from ramps.chain.client import RPC_ERRORS, ChainClient
from ramps.chain.errors import ChainConfigError
from ramps.chain.models import Chain, Token
from ramps.chain.validators import address_problem, to_checksum_address

logger = logging.getLogger(__name__)

_CAIP2_EIP155 = re.compile(r"^eip155:([1-9][0-9]{0,19})$")


def _checksum(address: str, *, what: str) -> str:
    problem = address_problem(address, what=what)
    if problem:
        raise ChainConfigError(problem)
    return to_checksum_address(address.strip())


def chain_add(*, caip2: str, name: str, rpc_url: str, confirmations: int = 12,
              finality: str = Chain.Finality.DEPTH, poll_interval_seconds: int = 5,
              max_log_range: int = 1000, xpub: str = "", treasury_address: str = "",
              start_block: int | None = None) -> Chain:
    """Configure a chain after checking the node really serves it.

    The node's ``eth_chainId`` must equal the CAIP-2 id (an RPC URL of another chain would
    hand out addresses and credit deposits on the wrong chain); the ``safe``/``finalized``
    tag, when chosen, must be served; scanning starts at the node's head unless told.
    """
    match = _CAIP2_EIP155.match((caip2 or "").strip())
    if match is None:
        raise ChainConfigError(f"{caip2!r} is not an EVM CAIP-2 id (eip155:<chain id>).")
    chain_id = int(match.group(1))
    if finality not in Chain.Finality.values:
        raise ChainConfigError(f"Finality must be one of {', '.join(Chain.Finality.values)}.")
    if confirmations < 1 or max_log_range < 1 or poll_interval_seconds < 1:
        raise ChainConfigError("confirmations, max_log_range and poll interval must be >= 1.")
    if xpub:
        deposit_address_derive(xpub=xpub.strip(), index=0)
    treasury = _checksum(treasury_address, what="Treasury address") if treasury_address else ""
    client = ChainClient(rpc_url)
    try:
        node_chain_id = client.chain_id()
        head = client.head()
        if finality != Chain.Finality.DEPTH:
            client.block_number_at(str(finality))
    except RPC_ERRORS as exc:
        raise ChainConfigError("The node did not answer: " + client.error_text(exc)) from exc
    if node_chain_id != chain_id:
        raise ChainConfigError(
            f"The node serves chain id {node_chain_id}, not {chain_id} ({caip2})."
        )
    try:
        with transaction.atomic():
            chain = Chain.objects.create(
                caip2=caip2.strip(), name=name, chain_id=chain_id, rpc_url=rpc_url,
                confirmations=confirmations, finality=finality,
                poll_interval_seconds=poll_interval_seconds, max_log_range=max_log_range,
                xpub=xpub.strip(), treasury_address=treasury,
                start_block=head + 1 if start_block is None else start_block,
            )
    except IntegrityError as exc:
        raise ConflictError(f"Chain {caip2} is already configured.",
                            slug="chain-exists") from exc
    logger.info("chain %s added (chain id %s, finality %s)", caip2, chain_id, finality)
    return chain


def _token_metadata(*, chain: Chain, contract_address: str) -> tuple[int, str]:
    """(decimals, symbol) read from the contract; refuses an address without code."""
    client = ChainClient.for_chain(chain)
    try:
        if not client.code(contract_address):
            raise ChainConfigError(
                f"No contract at {contract_address} on {chain.caip2}: not a token address."
            )
        decimals = client.erc20_decimals(contract_address)
        try:
            symbol = client.erc20_symbol(contract_address)
        except RPC_ERRORS:
            symbol = ""  # some old tokens return bytes32; the operator gives the symbol
    except ChainConfigError:
        raise
    except RPC_ERRORS as exc:
        raise ChainConfigError(
            f"Could not read decimals() of {contract_address} on {chain.caip2}: "
            + client.error_text(exc)
        ) from exc
    if not 0 <= decimals <= 36:
        raise ChainConfigError(f"decimals() of {contract_address} returned {decimals}.")
    return decimals, symbol


def token_add(*, chain: Chain, contract_address: str, symbol: str = "",
              expected_decimals: int | None = None, is_accepted: bool = True) -> Token:
    """Configure a token with the decimals its contract reports.

    Decimals are never typed by hand: a wrong value scales every amount by a power of ten.
    ``expected_decimals`` (what the operator believes) must match the contract when given.
    """
    address = _checksum(contract_address, what="Token contract")
    decimals, contract_symbol = _token_metadata(chain=chain, contract_address=address)
    if expected_decimals is not None and expected_decimals != decimals:
        raise ChainConfigError(
            f"The contract reports {decimals} decimals, not {expected_decimals}."
        )
    symbol = (symbol or contract_symbol).strip()
    if not symbol or len(symbol) > 20:
        raise ChainConfigError("Give the token's symbol (at most 20 characters).")
    try:
        with transaction.atomic():
            token = Token.objects.create(chain=chain, symbol=symbol, contract_address=address,
                                         decimals=decimals, is_accepted=is_accepted)
    except IntegrityError as exc:
        raise ConflictError(f"{symbol} or {address} is already configured on {chain.caip2}.",
                            slug="token-exists") from exc
    logger.info("token %s (%s, %s decimals) added on %s", symbol, address, decimals, chain.caip2)
    return token


def token_decimals_check(*, token: Token) -> int:
    """Read the token's decimals again; raises if the contract disagrees with the stored value."""
    decimals, _ = _token_metadata(chain=token.chain, contract_address=token.contract_address)
    if decimals != token.decimals:
        raise ChainConfigError(
            f"{token}: stored decimals {token.decimals}, the contract reports {decimals}."
        )
    return decimals
