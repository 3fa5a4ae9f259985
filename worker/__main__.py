from hzz.worker.main import main

raise SystemExit(main())
