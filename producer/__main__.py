from producer.main import main

raise SystemExit(main())
