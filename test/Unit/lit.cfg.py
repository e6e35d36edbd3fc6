# lit configuration that runs the GoogleTest unit tests, one lit test each.
import os

import lit.formats

config.name = "Cascade-Unit"
config.suffixes = []
config.test_exec_root = os.path.join(config.cascade_obj_root, "unittests")
config.test_source_root = config.test_exec_root
config.test_format = lit.formats.GoogleTest(".", "Tests")
config.environment["CASCADE_SOURCE_DIR"] = config.cascade_src_root
