package match

import "strings"

// nicknameGroups are given names and the short and familiar forms people sign up with.
// A name may stand in more than one group (Chris is both Christopher and Christine), so
// two names agree when they share any group. The table is small on purpose: it covers the
// English forms that string similarity cannot see (Bill and William share no letters that
// matter), and leaves the rest to Jaro-Winkler, which already finds Johnny close to John.
var nicknameGroups = [][]string{
	{"william", "bill", "billy", "will", "willy", "liam"},
	{"robert", "bob", "bobby", "rob", "robbie", "bert"},
	{"elizabeth", "liz", "lizzie", "beth", "betty", "eliza", "lisa", "libby", "bess", "elsie"},
	{"margaret", "peggy", "maggie", "meg", "marge", "margie", "greta", "daisy"},
	{"richard", "dick", "rick", "ricky", "rich", "richie"},
	{"james", "jim", "jimmy", "jamie"},
	{"john", "jack", "johnny", "jon"},
	{"jonathan", "jon", "jonny", "nathan"},
	{"joseph", "joe", "joey"},
	{"josephine", "jo", "josie"},
	{"thomas", "tom", "tommy"},
	{"charles", "charlie", "chuck", "chas"},
	{"edward", "ed", "eddie", "ted", "ned"},
	{"henry", "harry", "hank"},
	{"michael", "mike", "mikey", "mick", "mickey"},
	{"christopher", "chris", "kit"},
	{"christine", "chris", "chrissy", "tina"},
	{"katherine", "kate", "katie", "kathy", "kat", "kitty", "cathy"},
	{"catherine", "kate", "katie", "cathy", "cat"},
	{"anthony", "tony"},
	{"andrew", "andy", "drew"},
	{"alexander", "alex", "sandy", "xander"},
	{"alexandra", "alex", "sandra", "sandy", "lexi"},
	{"benjamin", "ben", "benny"},
	{"daniel", "dan", "danny"},
	{"david", "dave", "davy"},
	{"matthew", "matt"},
	{"nicholas", "nick", "nicky"},
	{"patrick", "pat", "paddy"},
	{"patricia", "pat", "patty", "trish", "tricia"},
	{"peter", "pete"},
	{"samuel", "sam", "sammy"},
	{"samantha", "sam", "sammy"},
	{"stephen", "steve", "stevie"},
	{"steven", "steve", "stevie"},
	{"timothy", "tim", "timmy"},
	{"lawrence", "larry"},
	{"gerald", "gerry", "jerry"},
	{"frederick", "fred", "freddie"},
	{"francis", "frank", "fran"},
	{"theodore", "ted", "teddy", "theo"},
	{"susan", "sue", "susie"},
	{"deborah", "debbie", "deb"},
	{"rebecca", "becky", "becca"},
	{"jennifer", "jen", "jenny"},
	{"jessica", "jess", "jessie"},
	{"victoria", "vicky", "tori"},
	{"dorothy", "dot", "dottie", "dolly"},
	{"barbara", "barb", "babs"},
	{"abigail", "abby", "gail"},
	{"harriet", "hattie", "hatty", "harry"},
	{"judith", "judy"},
	{"mary", "molly", "polly", "mae"},
	{"sarah", "sally", "sadie"},
	{"helen", "nell", "nellie"},
	{"eleanor", "ellie", "nell", "nora"},
	{"ann", "anne", "annie", "nancy"},
	{"kimberly", "kim"},
	{"zachary", "zach", "zack"},
	{"nathaniel", "nate", "nat"},
	{"raymond", "ray"},
	{"ronald", "ron", "ronnie"},
	{"donald", "don", "donnie"},
	{"kenneth", "ken", "kenny"},
	{"leonard", "leo", "len", "lenny"},
	{"walter", "walt", "wally"},
	{"albert", "al", "bert"},
	{"alfred", "alf", "alfie", "fred"},
	{"douglas", "doug"},
	{"gregory", "greg"},
	{"jeffrey", "jeff"},
	{"philip", "phil"},
	{"phillip", "phil"},
	{"vincent", "vince", "vinny"},
	{"susanna", "susie", "sue"},
	{"cynthia", "cindy"},
	{"pamela", "pam"},
	{"angela", "angie"},
	{"virginia", "ginny", "ginger"},
	{"frances", "fran", "frankie"},
	{"isabella", "bella", "izzy", "isabel"},
	{"jacqueline", "jackie"},
	{"louise", "lou", "lulu"},
	{"louis", "lou"},
	{"evelyn", "evie"},
	{"harold", "hal", "harry"},
	{"augustus", "gus"},
	{"oliver", "ollie"},
	{"olivia", "liv", "livvy"},
}

// nicknames maps each name to the groups it stands in, as bit sets over nicknameGroups.
var nicknames = func() map[string][2]uint64 {
	m := map[string][2]uint64{}
	for i, g := range nicknameGroups {
		for _, n := range g {
			b := m[n]
			b[i/64] |= 1 << (i % 64)
			m[n] = b
		}
	}
	return m
}()

// Nicknames reports whether two normalised given names are known forms of one name
// (Bill and William, Peggy and Margaret). Equal names are not nicknames of each other.
func Nicknames(a, b string) bool {
	if a == b {
		return false
	}
	x, ok := nicknames[a]
	if !ok {
		return false
	}
	y := nicknames[b]
	return x[0]&y[0] != 0 || x[1]&y[1] != 0
}

// canonicalName returns the formal name of the first group a given name stands in, or the
// name itself. Blocking uses it so that Bill Smith and William Smith meet on the names key.
func canonicalName(n string) string {
	// Names of several words ("mary ann") are looked up by their first word.
	first, _, _ := strings.Cut(n, " ")
	b, ok := nicknames[first]
	if !ok {
		return n
	}
	for w, bits := range b {
		for i := 0; i < 64; i++ {
			if bits&(1<<i) != 0 {
				return nicknameGroups[w*64+i][0]
			}
		}
	}
	return n
}

// CanonicalName is the formal name of the first nickname group a normalised given name
// stands in (William for Bill), or the name itself: search stores and asks for it beside the
// name, so that Bill finds William and William finds Bill.
func CanonicalName(n string) string { return canonicalName(n) }
