package quality

import (
	"regexp"
	"strconv"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// This file classifies parsed numbers (region and line type) from libphonenumber's own
// metadata, with the same rules as phonenumbers.GetRegionCodeForNumber and
// GetNumberType. We do it ourselves for speed alone: the library rebuilds each pattern
// string and looks it up in a mutex-guarded cache on every match, and matches most
// patterns twice. That made classification cost more than parsing and stopped bulk
// validation from scaling past one core. TestPhoneClassifierMatchesLibrary and
// FuzzValidatePhone check that the answers are the library's.

// phoneDesc is one number-type description: the national-number lengths it allows and
// its pattern, anchored at both ends. A nil pattern matches nothing.
type phoneDesc struct {
	lengths []int32
	re      *regexp.Regexp
}

func (d *phoneDesc) matches(nsn string) bool {
	if d.re == nil {
		return false
	}
	if len(d.lengths) > 0 {
		found := false
		for _, l := range d.lengths {
			if int32(len(nsn)) == l {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return d.re.MatchString(nsn)
}

// phoneMeta is the compiled metadata of one region (or non-geographic calling code).
// Patterns are compiled on first use: most deployments only ever see a few regions.
type phoneMeta struct {
	once sync.Once
	src  *phonenumbers.PhoneMetadata

	leading                                                *regexp.Regexp
	general, premium, tollFree, sharedCost, voip, personal phoneDesc
	pager, uan, voicemail, fixed, mobile                   phoneDesc
	sameMobileAndFixed                                     bool

	// What parsePhoneFast needs to read a number the way the library's parser does: the
	// international prefix and the national prefix for parsing, both anchored at the
	// start as the parser anchors them, the national prefix transform rule, and the
	// calling code as written. parsable is false when a pattern does not compile or the
	// possible lengths are missing (the parser would panic on both): the fast path then
	// leaves the region to the library instead of guessing.
	idd, nationalPrefix *regexp.Regexp
	prefixTransform     string
	callingCode         string
	parsable            bool
}

func (m *phoneMeta) compile() {
	desc := func(d *phonenumbers.PhoneNumberDesc) phoneDesc {
		if d == nil || d.GetNationalNumberPattern() == "" {
			return phoneDesc{}
		}
		return phoneDesc{
			lengths: d.PossibleLength,
			re:      regexp.MustCompile("^(?:" + d.GetNationalNumberPattern() + ")$"),
		}
	}
	s := m.src
	if ld := s.GetLeadingDigits(); ld != "" {
		m.leading = regexp.MustCompile("^(?:" + ld + ")")
	}
	m.general = desc(s.GetGeneralDesc())
	m.premium = desc(s.GetPremiumRate())
	m.tollFree = desc(s.GetTollFree())
	m.sharedCost = desc(s.GetSharedCost())
	m.voip = desc(s.GetVoip())
	m.personal = desc(s.GetPersonalNumber())
	m.pager = desc(s.GetPager())
	m.uan = desc(s.GetUan())
	m.voicemail = desc(s.GetVoicemail())
	m.fixed = desc(s.GetFixedLine())
	m.mobile = desc(s.GetMobile())
	m.sameMobileAndFixed = s.GetSameMobileAndFixedLinePattern()

	var iddErr, npErr error
	m.idd, iddErr = regexp.Compile("^(?:" + s.GetInternationalPrefix() + ")")
	if p := s.GetNationalPrefixForParsing(); p != "" {
		m.nationalPrefix, npErr = regexp.Compile("^(?:" + p + ")")
	}
	m.prefixTransform = s.GetNationalPrefixTransformRule()
	m.callingCode = strconv.Itoa(int(s.GetCountryCode()))
	m.parsable = iddErr == nil && npErr == nil && len(s.GetGeneralDesc().GetPossibleLength()) > 0
}

func (m *phoneMeta) ready() *phoneMeta {
	m.once.Do(m.compile)
	return m
}

// numberType mirrors libphonenumber's getNumberTypeHelper, including its order of tests.
func (m *phoneMeta) numberType(nsn string) phonenumbers.PhoneNumberType {
	switch {
	case !m.general.matches(nsn):
		return phonenumbers.UNKNOWN
	case m.premium.matches(nsn):
		return phonenumbers.PREMIUM_RATE
	case m.tollFree.matches(nsn):
		return phonenumbers.TOLL_FREE
	case m.sharedCost.matches(nsn):
		return phonenumbers.SHARED_COST
	case m.voip.matches(nsn):
		return phonenumbers.VOIP
	case m.personal.matches(nsn):
		return phonenumbers.PERSONAL_NUMBER
	case m.pager.matches(nsn):
		return phonenumbers.PAGER
	case m.uan.matches(nsn):
		return phonenumbers.UAN
	case m.voicemail.matches(nsn):
		return phonenumbers.VOICEMAIL
	case m.fixed.matches(nsn):
		if m.sameMobileAndFixed || m.mobile.matches(nsn) {
			return phonenumbers.FIXED_LINE_OR_MOBILE
		}
		return phonenumbers.FIXED_LINE
	case !m.sameMobileAndFixed && m.mobile.matches(nsn):
		return phonenumbers.MOBILE
	}
	return phonenumbers.UNKNOWN
}

// phoneIndex maps regions and non-geographic calling codes to their metadata. It is
// built once and never written afterwards, so lookups need no lock.
type phoneIndex struct {
	byRegion map[string]*phoneMeta
	nonGeo   map[int]*phoneMeta
}

var phoneMetadata = sync.OnceValue(func() *phoneIndex {
	idx := &phoneIndex{byRegion: map[string]*phoneMeta{}, nonGeo: map[int]*phoneMeta{}}
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		// The library panics at init if its embedded metadata is broken, so this
		// cannot happen; an empty index would only make every number invalid.
		return idx
	}
	for _, md := range coll.GetMetadata() {
		m := &phoneMeta{src: md}
		if md.GetId() == nonGeoRegion {
			idx.nonGeo[int(md.GetCountryCode())] = m
		} else {
			idx.byRegion[md.GetId()] = m
		}
	}
	return idx
})

// nonGeoRegion is libphonenumber's region code for non-geographic calling codes.
const nonGeoRegion = "001"

func (idx *phoneIndex) meta(cc int, region string) *phoneMeta {
	if region == nonGeoRegion {
		if m := idx.nonGeo[cc]; m != nil {
			return m.ready()
		}
		return nil
	}
	if m := idx.byRegion[region]; m != nil {
		return m.ready()
	}
	return nil
}

// classifyPhone returns the region and type of a parsed number, as
// GetRegionCodeForNumber and GetNumberType would. The number is valid exactly when the
// type is not UNKNOWN.
func classifyPhone(num *phonenumbers.PhoneNumber) (string, phonenumbers.PhoneNumberType) {
	idx := phoneMetadata()
	cc := int(num.GetCountryCode())
	regions := phonenumbers.GetRegionCodesForCountryCode(cc)
	nsn := phonenumbers.GetNationalSignificantNumber(num)
	switch len(regions) {
	case 0:
		return "", phonenumbers.UNKNOWN
	case 1:
		m := idx.meta(cc, regions[0])
		if m == nil {
			return regions[0], phonenumbers.UNKNOWN
		}
		return regions[0], m.numberType(nsn)
	}
	// Shared calling codes (+1, +44, +7 …): the first region whose leading digits match,
	// or failing those, whose number patterns accept the number.
	for _, region := range regions {
		m := idx.meta(cc, region)
		if m == nil {
			continue
		}
		if m.leading != nil {
			if m.leading.MatchString(nsn) {
				return region, m.numberType(nsn)
			}
		} else if t := m.numberType(nsn); t != phonenumbers.UNKNOWN {
			return region, t
		}
	}
	return "", phonenumbers.UNKNOWN
}
