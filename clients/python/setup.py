"""Generates the package's gRPC stubs (baton/v1/*_pb2.py, *_pb2.pyi, *_pb2_grpc.py) from
the repository's proto/ when the package is built, so nothing generated is committed
and the client always matches the API it was built from.

Uses Debian's protoc and grpc_python_plugin (protobuf-compiler, protobuf-compiler-grpc),
which understand proto3 `optional`. BATON_PROTO_DIR names another proto/ directory.
"""

import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PROTO_DIR = Path(os.environ.get("BATON_PROTO_DIR", Path(__file__).resolve().parents[2] / "proto"))


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"baton-client: {name} not found; install it with `apt-get install {package}`")
    return path


class BuildPyWithStubs(build_py):
    """build_py, then protoc into the build directory's baton/v1 (emptied first, so a
    removed .proto leaves no stale module behind)."""

    def run(self) -> None:
        super().run()
        protos = sorted(p.relative_to(PROTO_DIR).as_posix() for p in (PROTO_DIR / "baton" / "v1").glob("*.proto"))
        if not protos:
            raise SystemExit(f"baton-client: no .proto files in {PROTO_DIR / 'baton' / 'v1'}; "
                             "build from the repository, or set BATON_PROTO_DIR to its proto/")
        out = Path(self.build_lib)
        stubs = out / "baton" / "v1"
        shutil.rmtree(stubs, ignore_errors=True)
        stubs.mkdir(parents=True)
        (stubs / "__init__.py").write_text('"""Generated from proto/baton/v1 when the package was built."""\n')
        plugin = tool("grpc_python_plugin", "protobuf-compiler-grpc")
        subprocess.run([tool("protoc", "protobuf-compiler"), f"--proto_path={PROTO_DIR}",
                        f"--python_out={out}", f"--pyi_out={out}", f"--grpc_python_out={out}",
                        f"--plugin=protoc-gen-grpc_python={plugin}", *protos], check=True)


setup(cmdclass={"build_py": BuildPyWithStubs})
