"""The only code that talks to the world: PeeringDB, IRR (bgpq4) and subprocesses."""
