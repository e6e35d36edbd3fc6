# lit configuration for Cascade's FileCheck tests.
import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "Cascade"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["Unit", "Inputs", "lit.cfg.py", "lit.site.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.cascade_obj_root, "test")

config.substitutions.append(("%variants", os.path.join(config.cascade_src_root, "variants")))
config.substitutions.append(("%srcroot", config.cascade_src_root))
config.substitutions.append(("%objroot", config.cascade_obj_root))
# The libcuda.so.1 stand-in that runs launches in the SIMT emulator
# (test/lib/EmulatedCudaDriver).
config.substitutions.append(
    ("%emulated_libcuda",
     os.path.join(config.cascade_obj_root, "lib", "libcascade-emulated-cuda.so")))
config.substitutions.append(("%cxx", config.cascade_cxx_compiler))
config.substitutions.append(("%cmake", config.cmake_command))
# The C++ compiler (and ccache, when the build uses it) for projects the
# tests configure against an installed Cascade (test/Embedding).
config.substitutions.append(
    ("%example_compiler",
     "-DCMAKE_CXX_COMPILER=" + config.cascade_cxx_compiler +
     (" -DCMAKE_CXX_COMPILER_LAUNCHER=" + config.cmake_cxx_launcher
      if config.cmake_cxx_launcher else "")))

llvm_config.with_system_environment(
    ["HOME", "TMP", "TEMP", "CUDA_HOME", "CUDA_ROOT", "CUDA_PATH"])
llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

tools = [
    ToolSubst("attn-opt", unresolved="fatal"),
    ToolSubst("attn-run", unresolved="fatal"),
    ToolSubst("attn-compile", unresolved="fatal"),
]
llvm_config.add_tool_substitutions(tools, [config.cascade_tools_dir])

# CUDA's ptxas (the GPU backend's tier-2 checks, test/Target/GPU). The
# machines this project builds on have CUDA 13 at /usr/local/cuda; where it
# is missing, those tests report UNSUPPORTED rather than pass.
ptxas = os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", "ptxas")
if os.path.exists(ptxas):
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))
