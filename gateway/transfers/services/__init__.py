"""Quotes, transfers and the steps that move a transfer through its state machine.

Start with ``driver.py``: its ``STEPS`` table says, for each state, the step that moves a
transfer on and the effects that step may have; ``gateway.transfers.states`` has the allowed
transitions and the named actions of the waiting states. Import from the modules themselves.
"""
