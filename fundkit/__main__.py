from fundkit.cli import main

raise SystemExit(main())
