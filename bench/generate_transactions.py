"""Labelled synthetic transaction feed (CLI). The generator lives in
`monitoring.synthetic` so the demo and the tests use the same code.

    python bench/generate_transactions.py --accounts 500 --days 60 > feed.jsonl
    python bench/generate_transactions.py --redis redis://127.0.0.1:6379/4 --stream transactions
    python bench/generate_transactions.py --redis $REDIS_URL --stream transactions --shards 8
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitoring.synthetic import *  # noqa: E402,F403
from monitoring.synthetic import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
