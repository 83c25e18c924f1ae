"""What tests share and is no test itself: the world of tenants and users, servers, browsers, mail, transports, software authenticators. Every other folder of tests/ mirrors one of leitstand/."""
