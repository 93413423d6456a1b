/**
 * English word lists for the offline RULER generators. RULER draws from the wonderwords
 * lists (nouns, adjectives, verbs); these are our own shorter lists of common words of the
 * same kinds, lowercase ASCII, no duplicates within a list (a few words are both noun and
 * verb, as in RULER; users deduplicate the union), so keys look alike ("quiet-harbor")
 * without shipping third-party data.
 */

export const NOUNS: readonly string[] = words(`
  account acid actor airport alarm album anchor angle animal answer apple army arrow
  artist autumn baby bag bakery balance ball balloon band bank barn basket battery beach
  bean bear bed bee bell belt bench berry bicycle bird blanket boat body bone book boot
  bottle box brain branch bread brick bridge brother brush bucket builder bus butter
  button cabin cake camera camp candle canoe canvas captain car card carpet castle cat
  cattle cave ceiling cellar chain chair chalk channel cheese cherry chess chicken child
  chimney church circle city clock cloth cloud coach coast coat coffee coin collar colony
  comet copper corner cotton council country cousin crayon cricket crowd crown cup
  curtain cushion daughter deer desert desk diamond dinner doctor dog doll dolphin door
  dragon drawer dream dress drum duck eagle earth engine envelope eye fabric face factory
  farm father feather fence field finger fire fish flag flame flower fog forest fork
  fountain fox friend frog fruit garage garden gate ghost giraffe glass glove goat gold
  grape grass guitar hall hammer harbor hat hawk heart helmet hill hobby honey horse
  hospital house island jacket jar jelly jewel judge kettle key kitchen kite knife ladder
  lake lamp lantern leaf lemon letter library lion lizard lock machine magnet map market
  meadow melon mirror monkey moon mountain mouse museum needle nest net night notebook
  ocean office onion orange orchard owl oyster painter palace pancake paper parcel parrot
  pasture pearl pencil pepper piano pillow pilot planet plate pocket poet pond potato
  prison pumpkin puppet quilt rabbit radio rain ribbon river road robot rocket roof rope
  rose sailor salad sand school scissors sea seed shadow sheep shell ship shoe shop shovel
  silver singer sister sky snake snow soap soldier spider spoon spring square squirrel
  stable star station stone storm stove stream street sugar summer sun swan table tail
  teacher temple tent theater thread tiger toast tomato tooth tower town toy tractor train
  tree truck tunnel turtle umbrella valley vase village violin wagon wall wallet window
  wind winter wire wolf wood worm yard zebra
`);

export const ADJECTIVES: readonly string[] = words(`
  able abrasive absent abundant acidic active adorable afraid agile alert alive amused
  ancient angry anxious aquatic arctic ashamed awake awful bashful beautiful bitter
  bizarre bland blissful bold bored brave breezy brief bright brisk broad broken bumpy
  busy calm careful cautious charming cheap cheerful chilly chubby clean clever cloudy
  clumsy coarse cold colorful comfortable common cool cozy crazy creepy crisp crooked
  cruel curious cute damp dark dazzling deep delicate dense dizzy dry dull dusty eager
  early elegant empty enormous envious equal even exact excited faint fair faithful fancy
  fast fearless fierce filthy fine firm flat fluffy foolish fragile frail free fresh
  friendly frozen fuzzy gentle giant gigantic glad gloomy glossy golden graceful grand
  greasy greedy grumpy guilty handsome happy hard harsh healthy heavy helpful hidden high
  hollow honest hot huge humble hungry icy idle innocent jealous jolly juicy kind large
  late lazy light little lively lonely long loose loud lovely lucky mad magnetic majestic
  massive mature meek mellow merry messy mighty mild misty modern moist narrow nasty
  naughty neat nervous new nice noisy odd old orderly pale patient peaceful perfect plain
  pleasant plump polite poor precious pretty proud puny purple quaint quick quiet rapid
  rare raw ready real rich rigid ripe rough round royal rude rusty sad safe salty scary
  secret selfish shaggy shallow sharp shiny short shy silent silky silly simple sleepy
  slim slow small smooth soft solid sore sour spicy spiky splendid steady steep sticky
  stormy strange strict strong sturdy sudden sunny super sweet swift tall tame tasty tense
  thankful thick thin thirsty tidy tiny tough tricky ugly uneven upset useful vast
  velvet vivid wandering warm weak wealthy weary wet whole wicked wide wild wise witty
  wooden worried young zany zealous
`);

export const VERBS: readonly string[] = words(`
  accept add admire advise agree allow amuse announce appear applaud arrange arrive ask
  attach attack attend bake balance bathe beg behave belong bless blink boil borrow
  bounce breathe brush bump burn bury calculate call carry carve cause challenge change
  charge chase cheer chew chop claim clap climb collect comb compare complain confess
  copy correct cough count crawl cross cry cycle dance decide deliver describe destroy
  develop dig disappear discover dive divide drag drain dress drift drop dry earn educate
  enjoy enter escape examine exercise explain explore fetch fill film fix float flood
  flow fold follow forgive gather gaze glow grab greet grin grip guard guess hammer hand
  hang harm hate heal help hop hover hug hum hunt hurry identify ignore imagine improve
  include inform inspect invent invite jog juggle jump kick kneel knit knock label laugh
  launch learn lick lift listen load march marry matter measure melt mend milk mix move
  nod notice obey observe offer open order pack paddle paint park pause pedal peel
  perform pinch plan plant play plead plug point polish pour pray preach prefer present
  pretend print promise protect pull pump punch push question race rain reach read
  realize record reflect refuse relax remember remind repair repeat reply report rescue
  retire return rinse roar roll rub rush sail scatter scold scrub search serve settle
  shave shiver shout sigh sign signal ski skip slide slip smash smell smile sneeze sniff
  snore solve sparkle spell spill splash spray sprout squeeze stamp stare steer stir
  stitch stretch stroll study succeed suggest supply surprise surround swim swing talk
  tease tempt thank tickle trace trade travel tremble trot trust tumble turn twist type
  unite unlock unpack vanish visit wait walk wander warn wash watch wave weigh welcome
  whisper whistle wink wish wobble wonder worry wrap write yawn yell zoom
`);

function words(block: string): readonly string[] {
  return Object.freeze(block.split(/\s+/).filter((w) => w !== ''));
}
