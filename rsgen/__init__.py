"""rsgen: route-server configuration generator (member YAML -> PeeringDB + IRR -> BIRD 2)."""

__version__ = "0.1.0"
