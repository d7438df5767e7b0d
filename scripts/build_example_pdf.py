"""Build examples/ibuprofen/documents/ibuprofen_manufacture_overview.pdf with fpdf2.

The text below was written for the doctune example corpus: a technical overview of ibuprofen
manufacture (Boots, BHC and bromination/nickel-coupling routes, atom economy, purification,
quality). Values are representative of the literature and consistent across the corpus; they are
teaching material, not a validated process.

The output is deterministic (fixed creation date and file id), so rebuilding it changes nothing
unless the text does. It uses DejaVu Sans where installed (the text has °C, ·, ≤ and subscript-free
formulas); without it, it falls back to a core font with the text made ASCII-safe.

    python scripts/build_example_pdf.py [--out PATH]
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from fpdf import FPDF

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "examples" / "ibuprofen" / "documents" / "ibuprofen_manufacture_overview.pdf"
FONT_DIRS = [Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu")]
TITLE = "Ibuprofen Manufacture: Routes, Reaction Conditions and Quality"
RUNNING_HEAD = "Ibuprofen manufacture - technical overview (doctune example corpus)"
FIXED_DATE = dt.datetime(2025, 1, 15, 9, 0, 0, tzinfo=dt.timezone.utc)

# (kind, content): "h1"/"h2" headings, "p" paragraphs, "ul" bullet lists, "table" rows.
CONTENT: list[tuple[str, object]] = [
    (
        "p",
        "Technical overview written for the doctune example corpus. It summarises three ways of making ibuprofen: the original Boots process, the catalytic BHC (Hoechst) process, and a laboratory route through the bromination of isobutylbenzene and a nickel-catalysed coupling. Quantities, conditions and yields are representative values chosen to be internally consistent; the companion documents give the full laboratory procedure, a table of substance properties and a patent-style description of the coupling step.",
    ),
    ("h1", "1 Introduction"),
    ("h2", "1.1 The molecule"),
    (
        "p",
        "Ibuprofen, (RS)-2-[4-(2-methylpropyl)phenyl]propanoic acid, is a non-steroidal anti-inflammatory drug (NSAID) of the 2-arylpropionic acid class, often called the profens. Its molecular formula is C13H18O2 and its molar mass is 206.28 g/mol. The compound was discovered by Stewart Adams and John Nicholson at the Boots Pure Drug Company in Nottingham, patented in 1961 and launched in the United Kingdom in 1969. It is one of the most widely used analgesics in the world and is sold without prescription at doses of 200 mg to 400 mg; prescription doses reach 3,200 mg per day.",
    ),
    (
        "p",
        "Ibuprofen is marketed as the racemate. Only the (S)-enantiomer inhibits the cyclooxygenase enzymes COX-1 and COX-2 at therapeutic concentrations, but about 50-60 % of the (R)-enantiomer is converted into the (S)-form in the body by a one-way chiral inversion, so the racemate is nearly as effective as the pure (S)-enantiomer (dexibuprofen). The active substance is a white crystalline powder that melts at 75-78 °C. It is practically insoluble in water (about 21 mg/L at 25 °C), freely soluble in ethanol, acetone and dichloromethane, and has a pKa of about 4.9, so it dissolves readily in dilute sodium hydroxide as the sodium salt and precipitates again when the solution is acidified to pH 1-2.",
    ),
    ("h2", "1.2 Why the route matters"),
    (
        "p",
        "Ibuprofen is a high-volume, low-price generic. World production is of the order of tens of thousands of tonnes per year, so a few percent of yield, the price of a catalyst or the cost of disposing of a by-product decides whether a process is competitive. Four measures are used in this overview to compare routes: the yield of each step and of the whole sequence; the atom economy, which is the fraction of the mass of all reactants that ends up in the product; the amount and kind of waste; and the hazards of the reagents and conditions.",
    ),
    (
        "p",
        "All three routes start from isobutylbenzene (2-methyl-1-phenylpropane, C10H14, 134.22 g/mol), which is made industrially by the side-chain alkylation of toluene with propene over an alkali-metal catalyst. The isobutyl group is bulky and directs electrophilic substitution almost exclusively to the para position, which is why the Friedel-Crafts acylation and the bromination described below give the 4-substituted products with high selectivity.",
    ),
    ("h1", "2 The Boots Process"),
    (
        "p",
        "The original industrial synthesis, developed by the Boots Company in the 1960s, converts isobutylbenzene into ibuprofen in six steps. Every step uses stoichiometric reagents, and most of the mass of those reagents leaves the process as waste. The six steps are the Friedel-Crafts acylation, the Darzens condensation, the hydrolysis and decarboxylation to an aldehyde, the formation of an oxime, its dehydration to a nitrile, and the hydrolysis of the nitrile to the carboxylic acid.",
    ),
    ("h2", "2.1 Step 1: Friedel-Crafts acylation"),
    (
        "p",
        "Isobutylbenzene is acylated with acetic anhydride in the presence of anhydrous aluminium chloride to give 4'-isobutylacetophenone (1-[4-(2-methylpropyl)phenyl]ethan-1-one, C12H16O, 176.25 g/mol). A typical charge is 1.0 mol of isobutylbenzene, 1.1 mol of acetic anhydride and 2.2 mol of aluminium chloride in dichloromethane. The anhydride is added at 0-5 °C over 1 h, and the mixture is then stirred for 3 h at 20-25 °C. The yield of the ketone is about 87 %, with more than 95 % para selectivity.",
    ),
    (
        "p",
        "Aluminium chloride is called a catalyst but is consumed: the ketone product forms a stable 1:1 complex with it, and the acetate released from the anhydride binds a second equivalent. The complex is destroyed by pouring the mixture onto ice and hydrochloric acid, which turns 2.2 mol of aluminium chloride (293 g) per mol of ketone into hydrated aluminium salts that must be disposed of. That is about 1.7 kg of aluminium chloride for every kilogram of 4'-isobutylacetophenone.",
    ),
    ("h2", "2.2 Step 2: Darzens condensation"),
    (
        "p",
        "The ketone reacts with ethyl chloroacetate (1.2 mol per mol of ketone) in the presence of sodium ethoxide (1.3 mol) in a mixture of ethanol and toluene at 0-10 °C for 4 h. The enolate of the chloroester adds to the carbonyl group and closes an epoxide ring, giving the glycidic ester ethyl 3-(4-isobutylphenyl)-3-methyloxirane-2-carboxylate. Sodium chloride and ethanol are by-products. The yield of the glycidic ester is about 80 %.",
    ),
    ("h2", "2.3 Step 3: Hydrolysis and decarboxylation"),
    (
        "p",
        "The glycidic ester is saponified with 10 % aqueous sodium hydroxide at 60 °C for 2 h. The solution is acidified with dilute hydrochloric acid and heated to 80-100 °C, where the glycidic acid loses carbon dioxide and rearranges to 2-(4-isobutylphenyl)propanal. The aldehyde is obtained in about 75 % yield. It oxidises slowly in air and is therefore kept under nitrogen until the next step.",
    ),
    ("h2", "2.4 Step 4: Oxime formation"),
    (
        "p",
        "The aldehyde is condensed with hydroxylamine, used as hydroxylamine hydrochloride (1.2 mol per mol of aldehyde) with sodium acetate (1.3 mol) as the base, in aqueous ethanol at 50-60 °C for 2 h. The product, 2-(4-isobutylphenyl)propanal oxime, crystallises on cooling and is filtered off in about 90 % yield.",
    ),
    ("h2", "2.5 Step 5: Dehydration to the nitrile"),
    (
        "p",
        "The oxime is heated in acetic anhydride (2.0 mol per mol of oxime) at reflux, 130-140 °C, for 3 h. Water is removed from the aldoxime and 2-(4-isobutylphenyl)propanenitrile is formed, together with acetic acid. After distillation of the excess anhydride the nitrile is obtained in about 85 % yield.",
    ),
    ("h2", "2.6 Step 6: Hydrolysis of the nitrile"),
    (
        "p",
        "The nitrile is hydrolysed with 20 % aqueous sodium hydroxide (3 mol per mol of nitrile) at reflux, 100-105 °C, for 8 h; ammonia is driven off and absorbed in dilute sulfuric acid. The solution of sodium ibuprofen is washed with toluene to remove neutral impurities and acidified with hydrochloric acid to pH 1-2, which precipitates ibuprofen. The yield of this step is about 85 %, and the crude acid has a purity of 97-98 % before recrystallisation.",
    ),
    ("h2", "2.7 Overall performance of the Boots process"),
    (
        "p",
        "Multiplying the six step yields (87 %, 80 %, 75 %, 90 %, 85 % and 85 %) gives an overall yield of about 34 % from isobutylbenzene. Each step needs its own work-up, solvent and waste stream, and the stoichiometric aluminium chloride of step 1 alone produces more waste than the process makes product. The atom economy of the sequence is only about 40 % (section 4.1).",
    ),
    ("h1", "3 The BHC Process"),
    (
        "p",
        "The BHC process was developed by the BHC Company, a joint venture of Boots and the Hoechst Celanese Corporation, and went into operation in 1992 at Bishop, Texas. It replaces the six stoichiometric steps of the Boots process with three catalytic ones: an acylation in hydrogen fluoride, a catalytic hydrogenation, and a palladium-catalysed carbonylation. The process received the Presidential Green Chemistry Challenge Award (Greener Synthetic Pathways) in 1997.",
    ),
    ("h2", "3.1 Step 1: Acylation in hydrogen fluoride"),
    (
        "p",
        "Isobutylbenzene is acylated with acetic anhydride (1.1 mol per mol) in anhydrous hydrogen fluoride, which is both the catalyst and the solvent. The molar ratio of hydrogen fluoride to isobutylbenzene is between 10:1 and 25:1. The reaction runs at 80 °C for 3 h in a closed, HF-resistant reactor under its own vapour pressure. The yield of 4'-isobutylacetophenone is about 92 %, with more than 95 % para selectivity.",
    ),
    (
        "p",
        "Unlike aluminium chloride, hydrogen fluoride is not consumed. It is distilled off after the reaction and recycled with an efficiency of more than 99.9 %. The only by-product is acetic acid (1 mol per mol of ketone), which is recovered and used again. No aluminium waste is produced.",
    ),
    ("h2", "3.2 Step 2: Catalytic hydrogenation"),
    (
        "p",
        "4'-Isobutylacetophenone is hydrogenated to 1-(4-isobutylphenyl)ethanol (C12H18O, 178.27 g/mol) over Raney nickel (5 % by weight of the ketone) or over 5 % palladium on carbon (0.5 % by weight). The reaction is run neat or in methanol at 30-70 °C under a hydrogen pressure of 0.7 MPa. Conversion is above 99 % and the selectivity to the alcohol is about 96 %; the main side reaction is hydrogenolysis to 4-isobutylethylbenzene (2-3 %), which increases at higher temperatures. The catalyst is filtered off and reused, with 1-2 % fresh catalyst added per batch.",
    ),
    ("h2", "3.3 Step 3: Palladium-catalysed carbonylation"),
    (
        "p",
        "The alcohol is carbonylated with carbon monoxide to ibuprofen. The catalyst is bis(triphenylphosphine)palladium(II) dichloride, PdCl2(PPh3)2, at 0.1-0.3 mol % palladium, with additional triphenylphosphine and 10 % aqueous hydrochloric acid as promoter. The acid converts the alcohol into 1-chloro-1-(4-isobutylphenyl)ethane in situ, which undergoes oxidative addition to palladium(0); insertion of carbon monoxide and hydrolysis then give the acid. Typical conditions are 125-130 °C and a carbon monoxide pressure of at least 5.5 MPa for 3 h in methyl ethyl ketone.",
    ),
    (
        "p",
        "The yield of ibuprofen is about 96 %. The main by-product is the linear isomer, 3-(4-isobutylphenyl)propanoic acid (2-3 %), which is removed by crystallisation. Palladium is recovered from the mother liquor and recycled, and the residual palladium in the crystallised product is below 10 µg/g. The overall yield of the three BHC steps is about 85 % (92 % × 96 % × 96 %).",
    ),
    ("h1", "4 Atom Economy and Waste"),
    (
        "p",
        "Atom economy (AE) is the molar mass of the desired product divided by the sum of the molar masses of all reactants in the balanced overall equation, expressed as a percentage. It measures how much of what goes into a process could at best come out as product, independently of the yield.",
    ),
    ("h2", "4.1 Atom economy of the Boots process"),
    (
        "p",
        "Following the usual textbook accounting, the reactants of the Boots process are isobutylbenzene (134.22 g/mol), acetic anhydride (102.09 g/mol), ethyl chloroacetate (122.55 g/mol), sodium ethoxide (68.05 g/mol), the hydronium ion of the acid work-up (19.02 g/mol), hydroxylamine (33.03 g/mol) and two molecules of water for the nitrile hydrolysis (36.03 g/mol). Their sum is 514.99 g/mol. With ibuprofen at 206.28 g/mol, the atom economy is 206.28 / 514.99 = 40.1 %, so about 40 %. The remaining 308.71 g/mol leave as by-products: about 1.5 kg of unwanted material per kilogram of ibuprofen before any solvent or work-up losses are counted.",
    ),
    ("h2", "4.2 Atom economy of the BHC process"),
    (
        "p",
        "The reactants of the BHC process are isobutylbenzene (134.22 g/mol), acetic anhydride (102.09 g/mol), hydrogen (2.02 g/mol) and carbon monoxide (28.01 g/mol), a sum of 266.34 g/mol. The atom economy is 206.28 / 266.34 = 77.4 %, so about 77 %. The only by-product is acetic acid (60.05 g/mol), about 0.29 kg per kilogram of ibuprofen. When the recovered acetic acid is counted as a co-product, the atom economy rises to practically 100 %; it is usually quoted as about 99 % because the recovery is not complete.",
    ),
    ("h2", "4.3 Catalysts and the environmental factor"),
    (
        "p",
        "The environmental factor (E-factor) is the mass of waste per mass of product. From stoichiometry alone it is about 1.5 for the Boots process and below 0.3 for the BHC process, where the acetic acid is sold or reused. Real E-factors are higher because solvents, wash water and the hydrated aluminium salts of the Boots acylation are added. In the BHC process the three catalysts, hydrogen fluoride, Raney nickel or Pd/C and the palladium complex, are recovered and reused, which is why three steps with high yields and few by-products replaced the original six.",
    ),
    (
        "table",
        [
            ["Measure", "Boots process", "BHC process"],
            ["Number of steps", "6", "3"],
            ["Overall yield", "about 34 %", "about 85 %"],
            ["Atom economy", "about 40 %", "about 77 %"],
            ["AE, acetic acid recovered", "about 40 %", "about 99 %"],
            ["Acylation catalyst", "AlCl3, consumed", "HF, recycled"],
            ["Main by-products", "Al salts, NaCl, NH3", "acetic acid"],
        ],
    ),
    ("h1", "5 The Bromination and Nickel-Coupling Route"),
    (
        "p",
        "A third route, suited to the laboratory and to small-scale manufacture, builds the propionic acid side chain by coupling an aryl bromide with an alkyl chloride. It has three stages: the bromination of isobutylbenzene to 1-bromo-4-isobutylbenzene, the nickel-catalysed reductive coupling of this bromide with methyl 2-chloropropionate to ibuprofen methyl ester, and the hydrolysis of the ester to ibuprofen. The full procedure is given in the companion document procedure_nickel_route.md; the key conditions are summarised here.",
    ),
    ("h2", "5.1 Bromination of isobutylbenzene"),
    (
        "p",
        "Isobutylbenzene is brominated with elemental bromine at a molar ratio of isobutylbenzene to bromine of 1:1.05, so 0.200 mol (26.8 g) of isobutylbenzene needs 0.210 mol (33.6 g, 10.8 mL) of bromine. In the original patent example the solvent is carbon tetrachloride (100 mL); because carbon tetrachloride is toxic and ozone-depleting, the laboratory procedure uses dichloromethane instead, with the same result within 2 %. The catalyst is iron powder (0.56 g, 10.0 mmol, 5 mol %), which forms iron(III) bromide in situ; anhydrous iron(III) bromide (1.48 g, 5.0 mmol) can be used directly.",
    ),
    (
        "p",
        "Bromine is added dropwise over 1.5-2 h while the temperature is held at 30-40 °C, and the mixture is stirred for a further 3 h at 35 °C. The reaction is protected from light, because light starts a radical side-chain bromination at the benzylic position. Hydrogen bromide is released (about 0.2 mol) and absorbed in a sodium hydroxide scrubber. The crude product contains the para and ortho isomers in a ratio of about 92:8; after work-up and vacuum distillation 1-bromo-4-isobutylbenzene (C10H13Br, 213.12 g/mol) is obtained in 85 % yield (36.2 g, 0.170 mol) with a GC purity of 98.5 % and not more than 1.0 % of the ortho isomer.",
    ),
    ("h2", "5.2 Nickel-catalysed reductive coupling"),
    (
        "p",
        "Nickel(II) chloride hexahydrate (2.38 g, 10.0 mmol, 10 mol %), 2,2'-bipyridine (1.56 g, 10.0 mmol), sodium chloride (2.92 g, 50 mmol), manganese powder (16.5 g, 0.300 mol, 3.0 equiv) and triethylamine hydrochloride (2.75 g, 20 mmol) are mixed in tetrahydrofuran (200 mL) under nitrogen at 40 °C. 1-Bromo-4-isobutylbenzene (21.3 g, 0.100 mol) and methyl 2-chloropropionate (18.4 g, 0.150 mol, 1.5 equiv) are then added, and the reaction is stirred at 40 °C for 12 h. Manganese reduces nickel(II) to the active nickel(0) complex and is itself oxidised to manganese(II) chloride and bromide; triethylamine hydrochloride activates the manganese surface, and sodium chloride speeds up the reduction and suppresses homocoupling.",
    ),
    (
        "p",
        "After filtration of the excess manganese and an acidic aqueous work-up, methyl 2-(4-isobutylphenyl)propanoate (ibuprofen methyl ester, C14H20O2, 220.31 g/mol) is obtained by vacuum distillation in 80 % yield (17.6 g, 0.080 mol) with a GC purity of 97 %. The main by-products are 4,4'-diisobutylbiphenyl from homocoupling of the aryl bromide (5-8 %) and isobutylbenzene from hydrodehalogenation (3-5 %).",
    ),
    ("h2", "5.3 Ester hydrolysis and isolation"),
    (
        "p",
        "The methyl ester (17.6 g, 0.080 mol) is dissolved in methanol (80 mL) and hydrolysed with 2 M aqueous sodium hydroxide (60 mL, 0.120 mol, 1.5 equiv) at 20-40 °C for 4 h. Methanol is removed under reduced pressure below 40 °C, the aqueous solution is washed with n-heptane to remove neutral impurities, and hydrochloric acid (6 M) is added at 5-10 °C until the pH is 1-2, which precipitates ibuprofen. Filtration, washing with cold water and drying at 40 °C under vacuum give 15.5 g of crude ibuprofen (0.0751 mol, 94 %). Recrystallisation from n-heptane gives 14.4 g of pure ibuprofen (87 % based on the ester) with an HPLC purity of at least 99.5 %. The overall yield of the three stages is about 59 % (85 % × 80 % × 87 %).",
    ),
    ("h2", "5.4 Influential factors"),
    (
        "p",
        "The coupling step is the most sensitive stage of the route. Under air the yield falls below 5 %, because nickel(0) is oxidised; the reactor must be inerted with nitrogen or argon. Without sodium chloride the yield drops from 80 % to 62 %, and without triethylamine hydrochloride to 55 %. At 25 °C only 48 % of the ester is formed after 12 h, while at 60 °C the yield is 66 % because homocoupling increases. Zinc instead of manganese gives 58 %. With 1.0 equiv of methyl 2-chloropropionate the yield is 68 %; 1.5 equiv gives 80 % and 2.0 equiv 81 %, so 1.5 equiv is the economic choice. In the bromination, temperatures above 40 °C increase dibromination and the ortho isomer, and below 30 °C bromine accumulates unreacted, which is a safety risk when the reaction then starts suddenly.",
    ),
    ("h1", "6 Purification and Crystallisation"),
    (
        "p",
        "Crude ibuprofen from any route is purified by crystallisation from a hydrocarbon. In the laboratory procedure the crude acid is dissolved in n-heptane (4 mL per g) at 55-60 °C, treated with activated carbon (2 % by weight) for 30 min to remove colour and traces of nickel, and filtered hot. The filtrate is seeded at 40 °C with 0.5 % by weight of ibuprofen crystals and cooled to 0-5 °C at 10 °C per hour. The crystals are filtered, washed with cold heptane and dried under vacuum at 40 °C, well below the melting point of 75-78 °C, until the loss on drying is not more than 0.5 %. The recovery of the crystallisation is about 93 %.",
    ),
    (
        "p",
        "A second purification option is esterification: crude ibuprofen (20.6 g, 0.100 mol) is heated at reflux (65 °C) in methanol (100 mL) with concentrated sulfuric acid (0.5 mL) for 5 h, which converts at least 98 % of the acid into the methyl ester. The ester is isolated in 95 % yield (20.9 g), distilled under vacuum to separate it from acidic and high-boiling impurities, and hydrolysed back to ibuprofen as in section 5.3. The detour costs two steps but removes impurities, such as the linear 3-arylpropanoic acid, that crystallisation alone does not.",
    ),
    (
        "p",
        "Ibuprofen crystallises as a cohesive, low-melting solid that tends to stick to tablet punches. Crystallisation conditions are therefore also chosen for the particle size: a median particle size (D50) of 40-60 µm and a narrow distribution make the powder flow and compress reproducibly.",
    ),
    ("h1", "7 Quality Attributes of the Active Substance"),
    (
        "p",
        "The quality of ibuprofen as an active pharmaceutical ingredient is defined by the pharmacopoeias (Ph. Eur., USP) and by the ICH guidelines on impurities. The main attributes and typical limits are listed below. Elemental impurities follow ICH Q3D: for oral products with a daily dose of up to 10 g, option 1 allows 20 µg/g of nickel and 10 µg/g of palladium. Residual solvents follow ICH Q3C.",
    ),
    (
        "table",
        [
            ["Attribute", "Limit"],
            ["Appearance", "white crystalline powder"],
            ["Assay (dried substance)", "98.5-101.0 %"],
            ["Melting point", "75-78 °C"],
            ["4'-Isobutylacetophenone", "≤ 0.1 %"],
            ["Any unspecified impurity", "≤ 0.10 %"],
            ["Total impurities", "≤ 0.3 %"],
            ["Loss on drying", "≤ 0.5 %"],
            ["Sulfated ash", "≤ 0.1 %"],
            ["Nickel / palladium", "≤ 20 µg/g / ≤ 10 µg/g"],
            ["Methanol / THF / n-heptane", "≤ 3000 / 720 / 5000 ppm"],
            ["Dichloromethane / carbon tetrachloride", "≤ 600 / 4 ppm"],
        ],
    ),
    (
        "p",
        "4'-Isobutylacetophenone is the ketone intermediate of the Boots and BHC routes and is also formed when ibuprofen degrades by oxidation; its limit of 0.1 % is therefore checked both at release and in stability studies. For the nickel route, the critical impurities are residual nickel, 4,4'-diisobutylbiphenyl and unreacted methyl ester, which is limited to 0.1 % by the in-process control of the hydrolysis.",
    ),
    ("h1", "8 Safety and Environmental Notes"),
    (
        "p",
        "Hydrogen fluoride (boiling point 19.5 °C) is acutely toxic and penetrates the skin, where it binds calcium and can cause fatal hypocalcaemia even after small burns. Work with HF needs closed equipment, HF-resistant materials and calcium gluconate gel at hand for first aid. Aluminium chloride reacts violently with water and releases hydrogen chloride. Bromine (boiling point 58.8 °C, density 3.10 g/cm³) is very toxic by inhalation and causes severe burns; it is dosed from a closed dropping funnel and the hydrogen bromide formed is scrubbed in sodium hydroxide solution.",
    ),
    (
        "p",
        "Carbon monoxide is a toxic, odourless gas that is flammable in air between 12.5 % and 74 % by volume; carbonylation reactors need CO detectors and pressure relief. Hydrogen forms explosive mixtures with air between 4 % and 75 %. Raney nickel is pyrophoric when dry and is always handled under water. Nickel(II) chloride is a category 1A carcinogen by inhalation and a skin sensitiser, and nickel-containing waste is collected separately. Tetrahydrofuran forms explosive peroxides on storage and must be tested before distillation. Carbon tetrachloride is restricted under the Montreal Protocol and is listed as a class 1 solvent with a limit of 4 ppm in ICH Q3C, which is why the laboratory procedure replaces it with dichloromethane.",
    ),
    ("h1", "9 Summary of Key Numbers"),
    ("p", "The key conditions and yields of the routes described above are, in short:"),
    (
        "ul",
        [
            "Bromination: isobutylbenzene:bromine = 1:1.05, iron powder 5 mol %, dichloromethane (originally carbon tetrachloride), 30-40 °C, protected from light; yield 85 %.",
            "Nickel coupling: NiCl2·6H2O 10 mol %, 2,2'-bipyridine, NaCl, manganese powder 3.0 equiv, triethylamine hydrochloride, THF, nitrogen, 40 °C, 12 h; yield 80 %.",
            "Ester hydrolysis: 2 M NaOH 1.5 equiv in methanol and water, 20-40 °C, 4 h, then HCl to pH 1-2; crude yield 94 %, 87 % after recrystallisation from n-heptane.",
            "BHC acylation: anhydrous HF 10-25 mol per mol, acetic anhydride 1.1 mol, 80 °C, 3 h; yield 92 %.",
            "BHC hydrogenation: Raney nickel 5 % by weight or Pd/C, hydrogen 0.7 MPa, 30-70 °C; yield 96 %.",
            "BHC carbonylation: PdCl2(PPh3)2 with HCl, carbon monoxide at least 5.5 MPa, 125-130 °C; yield 96 %.",
        ],
    ),
]

_ASCII = {
    "°": " deg ",
    "·": ".",
    "≤": "<=",
    "≥": ">=",
    "×": "x",
    "µ": "u",
    "³": "3",
    "′": "'",
    "–": "-",
    "—": "-",
}


class OverviewPdf(FPDF):
    def __init__(self, family: str, ascii_only: bool) -> None:
        super().__init__(format="A4")
        self.family, self.ascii_only = family, ascii_only
        self.set_auto_page_break(auto=True, margin=20)
        self.set_margins(20, 18, 20)

    def text_(self, text: str) -> str:
        if not self.ascii_only:
            return text
        return "".join(_ASCII.get(c, c) for c in text).encode("ascii", "replace").decode()

    def header(self) -> None:
        if self.page_no() > 1:  # the title page has its own title
            self.set_font(self.family, "", 8)
            self.cell(0, 5, self.text_(RUNNING_HEAD), new_x="LMARGIN", new_y="NEXT", align="C")
            self.ln(4)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(self.family, "", 8)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="C")


def build(out: Path = OUT) -> Path:
    regular, bold = _fonts()
    ascii_only = regular is None
    pdf = OverviewPdf("DejaVu" if regular else "helvetica", ascii_only)
    if regular and bold:
        pdf.add_font("DejaVu", "", str(regular))
        pdf.add_font("DejaVu", "B", str(bold))
    pdf.set_creation_date(FIXED_DATE)
    pdf.file_id = lambda: "<0123456789ABCDEF0123456789ABCDEF><0123456789ABCDEF0123456789ABCDEF>"
    pdf.set_title(TITLE)
    pdf.set_author("doctune example corpus")
    pdf.add_page()
    pdf.set_font(pdf.family, "B", 19)
    pdf.multi_cell(0, 9, pdf.text_(TITLE), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    for kind, content in CONTENT:
        _render(pdf, kind, content)
    out.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(out))
    return out


def _render(pdf: OverviewPdf, kind: str, content: object) -> None:
    if kind in ("h1", "h2"):
        title = str(content)
        size, gap = (15, 4) if kind == "h1" else (12.5, 2)
        if pdf.get_y() > pdf.h - 45:  # keep a heading with the text below it
            pdf.add_page()
        pdf.ln(gap)
        pdf.set_font(pdf.family, "B", size)
        pdf.start_section(pdf.text_(title), level=0 if kind == "h1" else 1)
        pdf.multi_cell(0, size * 0.5, pdf.text_(title), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    elif kind == "p":
        pdf.set_font(pdf.family, "", 10.5)
        pdf.multi_cell(0, 5.2, pdf.text_(str(content)), new_x="LMARGIN", new_y="NEXT", align="J")
        pdf.ln(3)
    elif kind == "table":
        rows = [[pdf.text_(c) for c in row] for row in content]  # type: ignore[union-attr]
        pdf.set_font(pdf.family, "", 8.5)
        # Narrower than the text and no cell wrapping: a reader then sees one short line per
        # row (a wrapped cell reads back out of row order).
        widths = (36, 32, 32) if len(rows[0]) == 3 else (50, 50)
        with pdf.table(
            width=125, col_widths=widths, line_height=5, first_row_as_headings=True, align="LEFT"
        ) as table:
            for row in rows:
                cells = table.row()
                for cell in row:
                    cells.cell(cell)
        pdf.ln(4)
    elif kind == "ul":
        pdf.set_font(pdf.family, "", 10.5)
        for item in content:  # type: ignore[union-attr]
            pdf.set_x(pdf.l_margin + 4)
            pdf.multi_cell(0, 5.2, pdf.text_(f"- {item}"), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2.5)
        pdf.ln(1)
    else:
        raise ValueError(f"unknown content kind {kind!r}")


def _fonts() -> tuple[Path | None, Path | None]:
    for folder in FONT_DIRS:
        regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            return regular, bold
    return None, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="where to write the PDF")
    args = parser.parse_args()
    path = build(args.out)
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
