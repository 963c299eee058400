from aspo_repro.cli import main

raise SystemExit(main())
