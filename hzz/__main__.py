from hzz.cli import main

raise SystemExit(main())
