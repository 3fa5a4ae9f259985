from aggregator.main import main

raise SystemExit(main())
