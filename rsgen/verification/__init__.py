"""rsgen verify: run the generated configs in real BIRD on an emulated peering LAN."""
