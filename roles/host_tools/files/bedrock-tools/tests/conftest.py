import os
import sys

# The package from its source folder: the tests need no install and no host.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))
