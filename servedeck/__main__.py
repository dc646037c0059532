from servedeck.cli import main

raise SystemExit(main())
