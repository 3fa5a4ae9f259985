from hzz.aggregator.main import main

raise SystemExit(main())
