"""`python -m analytics` runs the s3meta CLI."""

from .cli import main

raise SystemExit(main())
