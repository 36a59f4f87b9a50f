from powercycle.cli import main

raise SystemExit(main())
