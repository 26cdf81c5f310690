"""Where value enters and leaves: chain deposits, liquidity venues, payout rails, and sandboxes.

Nothing here imports the gateway's transfer state machine; services record their own facts
(a deposit, an order, a payout attempt) that the gateway acts on.
"""
