from hzz.devtools.samplegen import main

raise SystemExit(main())
