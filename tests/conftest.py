"""Test set-up shared by the whole suite."""

import os

# scikit-learn's check_array_api_input runs only with SciPy's array API
# support switched on, which must happen before SciPy is imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
