"""Cash pickup through partner agents: networks, agents, staff, redemption codes, agent float."""
