"""rsgen: route-server configuration generator (member YAML -> PeeringDB + IRR -> BIRD 2).

Every command is also a library function, imported lazily so `import rsgen` stays cheap. No
submodule shares a name with one of them: importing a submodule sets it as an attribute of
this package, which would replace the function (rsgen.builder, rsgen.refresher,
rsgen.verification and rsgen.deployer are named so for that reason):

    rsgen.check(directory) -> Config            (rsgen.load.load_checked)
    rsgen.refresh(directory, ...) -> RefreshReport
    rsgen.build(directory, output, ...) -> BuildResult
    rsgen.verify(VerifyOptions(...)) -> VerifyReport
    rsgen.deploy(config, DeployOptions(...)) -> DeployReport   (rsgen.deployer.run)
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API = {
    "check": ("rsgen.load", "load_checked"),
    "refresh": ("rsgen.refresher", "refresh"),
    "build": ("rsgen.builder", "build"),
    "verify": ("rsgen.verification.run", "verify"),
    "deploy": ("rsgen.deployer.run", "deploy"),
}


def __getattr__(name: str) -> Any:
    if name in _API:
        from importlib import import_module

        module, attribute = _API[name]
        return getattr(import_module(module), attribute)
    raise AttributeError(f"module 'rsgen' has no attribute {name!r}")
