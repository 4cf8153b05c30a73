from ftax.cli import main

raise SystemExit(main())
