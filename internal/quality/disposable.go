package quality

// disposableDomains are the mail domains of throw-away mailbox services: anyone can read
// or receive at any address on them, usually without signing up, and the mailbox vanishes
// after minutes or days. An address there is still deliverable, so it is flagged, never
// refused: whether to accept one is the business's call.
//
// The list is ours, kept short on purpose (a few hundred names of long-lived services,
// grouped by the service that runs them) rather than a third-party feed of hundreds of
// thousands of names that needs updating and brings false positives. Privacy relays that
// forward to a real mailbox (Apple's Hide My Email, Firefox Relay, DuckDuckGo, SimpleLogin,
// addy.io) are deliberately absent: their users are real customers who can be reached.
// Subdomains of a listed domain count as listed (see isDisposableDomain).
var disposableDomains = setOf(
	// Mailinator and the alternate domains it receives on.
	"mailinator.com", "mailinator.net", "mailinator2.com", "mailin8r.com", "mailinater.com",
	"binkmail.com", "bobmail.info", "chammy.info", "devnullmail.com", "letthemeatspam.com",
	"mailismagic.com", "mailtothis.com", "monumentmail.com", "reallymymail.com",
	"reconmail.com", "safetymail.info", "sendspamhere.com", "sogetthis.com",
	"spambooger.com", "spamherelots.com", "spamhereplease.com", "spamthisplease.com",
	"streetwisemail.com", "supergreatmail.com", "suremail.info", "thisisnotmyrealemail.com",
	"tradermail.info", "veryrealemail.com", "zippymail.info", "tempinbox.com",

	// Guerrilla Mail.
	"guerrillamail.com", "guerrillamail.net", "guerrillamail.org", "guerrillamail.biz",
	"guerrillamail.de", "guerrillamail.info", "guerrillamailblock.com", "sharklasers.com",
	"grr.la", "pokemail.net", "spam4.me", "guerillamail.com", "guerillamail.net",
	"guerillamail.org", "guerillamail.biz",

	// YOPmail and its alternate domains.
	"yopmail.com", "yopmail.fr", "yopmail.net", "cool.fr.nf", "jetable.fr.nf",
	"courriel.fr.nf", "moncourrier.fr.nf", "monemail.fr.nf", "monmail.fr.nf",
	"nospam.ze.tc", "nomail.xl.cx", "mega.zik.dj", "speed.1s.fr",

	// 10 Minute Mail and the short domains it rotated through.
	"10minutemail.com", "10minutemail.net", "10minutemail.co.uk", "10minutemail.de",
	"drdrb.com", "jnxjn.com", "klzlk.com", "lhsdv.com", "nepwk.com", "nwldx.com",
	"pjjkp.com", "rmqkr.net", "rppkn.com", "tyldd.com",

	// Other minute-mail services.
	"20minutemail.com", "20minutemail.it", "30minutemail.com", "60minutemail.com",
	"zehnminutenmail.de", "minutemail.com",

	// Temp-Mail, TempMail and similarly named services.
	"temp-mail.org", "temp-mail.io", "temp-mail.ru", "tempmail.com", "tempmail.net",
	"tempmail.de", "tempmail.it", "tempmail.dev", "tempmail.plus", "tempmail2.com",
	"tempmailo.com", "tempmailaddress.com", "tempail.com", "tempalias.com", "tempe-mail.com",
	"tempemail.biz", "tempemail.com", "tempemail.net", "tempinbox.co.uk", "tempomail.fr",
	"temporarily.de", "temporaryemail.net", "temporaryforwarding.com", "temporaryinbox.com",
	"temporary-mail.net", "tempr.email", "mytemp.email", "throwawaymail.com",
	"throwawayemailaddress.com", "throwam.com",

	// TempMail Plus.
	"mailto.plus", "fexpost.com", "fexbox.org", "fextemp.com", "mailbox.in.ua", "rover.info",
	"chitthi.in", "any.pink", "merepost.com",

	// Nada (getnada.com) and its receiving domains.
	"getnada.com", "nada.email", "abyssmail.com", "boximail.com", "clrmail.com",
	"dropjar.com", "getairmail.com", "givmail.com", "inboxbear.com", "robot-mail.com",
	"tafmail.com", "vomoto.com", "zetmail.com",

	// Dropmail.
	"dropmail.me", "10mail.org", "yomail.info", "emltmp.com", "emlpro.com", "emlhub.com",
	"freeml.net",

	// 1secmail.
	"1secmail.com", "1secmail.net", "1secmail.org",

	// Moakt and TmpMail.
	"moakt.com", "moakt.cc", "moakt.ws", "tmpmail.org", "tmpmail.net", "tmail.ws",
	"bareed.ws", "disbox.net",

	// Fake Name Generator's receiving domains.
	"armyspy.com", "cuvox.de", "dayrep.com", "einrot.com", "fleckens.hu", "gustr.com",
	"jourrapide.com", "rhyta.com", "superrito.com", "teleworm.us", "fakemailgenerator.com",

	// Email Generator (generator.email) and Fake Mail.
	"generator.email", "emailfake.com", "email-fake.com", "fakemail.net", "fakeinbox.com",
	"fakeinformation.com",

	// TrashMail and relatives.
	"trashmail.com", "trashmail.net", "trashmail.org", "trashmail.de", "trashmail.at",
	"trashmail.me", "trashmail.ws", "trashmail.io", "trashmailer.com", "trash-mail.com",
	"trash-mail.de", "trash-mail.at", "trashymail.com", "trashymail.net", "mytrashmail.com",
	"mailmetrash.com", "kurzepost.de", "objectmail.com", "proxymail.eu", "rcpt.at",
	"wegwerfmail.de", "wegwerfmail.net", "wegwerfmail.org", "trash2009.com",
	"trashdevil.com", "trashdevil.de", "trashemail.de",

	// Spamgourmet.
	"spamgourmet.com", "spamgourmet.net", "spamgourmet.org", "antichef.com", "antichef.net",

	// Jetable.
	"jetable.org", "jetable.com", "jetable.net",

	// Mail services with "spam" in their name, built to absorb it.
	"spambox.us", "spambox.info", "spambog.com", "spambog.de", "spambog.ru", "spamavert.com",
	"spamday.com", "spamcero.com", "spamfree24.com", "spamfree24.de", "spamfree24.eu",
	"spamfree24.info", "spamfree24.net", "spamfree24.org", "spamhole.com", "spamify.com",
	"spaml.com", "spaml.de", "spammotel.com", "spamobox.com", "spamoff.de", "spamspot.com",
	"spamthis.co.uk", "spamtrail.com", "spam.la", "spam.su", "spamdecoy.net",
	"spaminator.de", "spamcowboy.com", "spamcowboy.net", "spamcowboy.org", "spamex.com",
	"deadspam.com", "despam.it", "despammed.com", "hatespam.org", "ieatspam.eu",
	"ieatspam.info", "iheartspam.org", "nospam4.us", "nospamfor.us", "no-spam.ws",
	"nospamthanks.info", "nogmailspam.info", "nomorespamemails.com", "nurfuerspam.de",
	"saynotospams.com", "thanksnospam.info", "whyspam.me", "dontsendmespam.de",
	"meinspamschutz.de", "mailforspam.com", "spamcon.org", "outlawspam.com", "haltospam.com",

	// Single-purpose disposable services.
	"maildrop.cc", "mailnesia.com", "mailcatch.com", "mailsac.com", "mailpoof.com",
	"inboxkitten.com", "harakirimail.com", "discard.email", "discardmail.com",
	"discardmail.de", "dispostable.com", "disposableaddress.com", "disposableinbox.com",
	"dispose.it", "emailondeck.com", "mohmal.com", "mintemail.com", "mailexpire.com",
	"mailnull.com", "meltmail.com", "mailzilla.com", "mailzilla.org", "mailmoat.com",
	"incognitomail.com", "incognitomail.net", "incognitomail.org", "deadaddress.com",
	"dodgeit.com", "dodgit.com", "dontreg.com", "dumpmail.de", "dumpandjunk.com",
	"dumpyemail.com", "e4ward.com", "emailias.com", "emailinfive.com", "emailmiser.com",
	"emailsensei.com", "emailwarden.com", "emailxfer.com", "ephemail.net", "explodemail.com",
	"filzmail.com", "get1mail.com", "get2mail.fr", "getonemail.com", "getonemail.net",
	"gishpuppy.com", "hidemail.de", "imails.info", "inboxclean.com", "inboxclean.org",
	"ipoo.org", "kasmail.com", "killmail.com", "killmail.net", "klassmaster.com",
	"klassmaster.net", "lortemail.dk", "mail-temporaire.fr", "mail-temporaire.com",
	"mail4trash.com", "mailbidon.com", "mailfreeonline.com", "mailincubator.com",
	"mailnator.com", "messagebeamer.de", "mierdamail.com", "mt2009.com", "mycleaninbox.net",
	"myspamless.com", "neverbox.com", "noclickemail.com", "nomail2me.com", "nowmymail.com",
	"oneoffemail.com", "onewaymail.com", "pookmail.com", "quickinbox.com", "recode.me",
	"recursor.net", "rejectmail.com", "safersignup.de", "selfdestructingmail.com",
	"shiftmail.com", "shitmail.me", "slaskpost.se", "slopsbox.com", "sneakemail.com",
	"sofort-mail.de", "spambob.com", "spambob.net", "spambob.org", "thankyou2010.com",
	"trbvm.com", "wegwerfadresse.de", "wegwerfemail.de", "einmalmail.de", "wh4f.org",
	"willselfdestruct.com", "xemaps.com", "xents.com", "xmaily.com", "yuurok.com",
	"emailtemporario.com.br", "emailtemporanea.com", "emailtemporanea.net",
	"correotemporal.org", "crazymailing.com", "burnermail.io", "33mailbox.com",
	"anonbox.net", "anonymbox.com", "fakemail.fr", "byom.de", "mail7.io", "emailnator.com",
)
