package catalog
import ("testing";"encoding/json")
func TestScratch(t *testing.T){ c:=Default(); b,_:=json.MarshalIndent(c.Fields[:2],"","  "); t.Log(string(b)); t.Log(len(c.Fields)) }
