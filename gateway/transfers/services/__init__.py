"""Quotes, transfers and the steps that move a transfer through its state machine.

Start with ``driver.py``: its ``STEPS`` table says, for each state, the step that moves a
transfer on and the effects that step may have; ``gateway.transfers.states`` has the allowed
transitions and the named actions of the waiting states. Import from the modules themselves.
"""

# gateway.agents (cash pickup, being moved into ramps.payouts.agents) still imports these two
# from the package; nothing else should.
from gateway.transfers.services.machine import transfer_status_payload, transfer_transition

__all__ = ["transfer_status_payload", "transfer_transition"]
