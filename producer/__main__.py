from hzz.producer.main import main

raise SystemExit(main())
